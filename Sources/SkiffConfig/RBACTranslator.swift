import EnvoyAPI
import SkiffCore

/// `envoy.filters.http.rbac` / `envoy.filters.network.rbac` → `RBACFilterConfig`: what Istio's
/// AuthorizationPolicy compiles to (ALLOW, DENY, shadow rules for dry runs).
enum RBACTranslator {
    static let httpType = "envoy.extensions.filters.http.rbac.v3.RBAC"
    static let httpPerRouteType = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
    static let networkType = "envoy.extensions.filters.network.rbac.v3.RBAC"

    static func http(_ filter: Envoy_Extensions_Filters_Http_Rbac_V3_RBAC, at path: FieldPath) throws -> RBACFilterConfig {
        try SupportedFields.check(
            filter, allowed: ["rules", "shadow_rules", "rules_stat_prefix", "shadow_rules_stat_prefix", "track_per_rule_stats"], at: path,
            hint: "matcher-based RBAC arrives later"
        )
        return RBACFilterConfig(
            rules: filter.hasRules ? try rules(filter.rules, at: path / "rules") : nil,
            shadowRules: filter.hasShadowRules ? try rules(filter.shadowRules, at: path / "shadow_rules") : nil,
            rulesStatPrefix: filter.rulesStatPrefix, shadowRulesStatPrefix: filter.shadowRulesStatPrefix
        )
    }

    static func network(_ filter: Envoy_Extensions_Filters_Network_Rbac_V3_RBAC, at path: FieldPath) throws -> RBACFilterConfig {
        try SupportedFields.check(
            filter, allowed: ["rules", "shadow_rules", "stat_prefix", "shadow_rules_stat_prefix", "enforcement_type"], at: path,
            hint: "matcher-based RBAC arrives later"
        )
        guard !filter.statPrefix.isEmpty else { throw (path / "stat_prefix").error("stat_prefix is required") }
        return RBACFilterConfig(
            rules: filter.hasRules ? try rules(filter.rules, at: path / "rules") : nil,
            shadowRules: filter.hasShadowRules ? try rules(filter.shadowRules, at: path / "shadow_rules") : nil,
            statPrefix: filter.statPrefix, shadowRulesStatPrefix: filter.shadowRulesStatPrefix
        )
    }

    static func rules(_ rbac: Envoy_Config_Rbac_V3_RBAC, at path: FieldPath) throws -> RBACRules {
        try SupportedFields.check(rbac, allowed: ["action", "policies"], at: path, hint: "audit_logging_options arrives later")
        let action: RBACRules.Action
        switch rbac.action {
        case .allow: action = .allow
        case .deny: action = .deny
        case .log: action = .log
        case .UNRECOGNIZED(let raw): throw (path / "action").error("unknown value \(raw)")
        }
        let policies = try rbac.policies.sorted { $0.key < $1.key }.map { name, policy in
            let policyPath = path / "policies" / name
            try SupportedFields.check(policy, allowed: ["permissions", "principals"], at: policyPath,
                                      hint: "CEL conditions are not supported")
            return RBACPolicy(
                name: name,
                permissions: try policy.permissions.enumerated().map { try permission($1, at: policyPath / "permissions" / $0) },
                principals: try policy.principals.enumerated().map { try principal($1, at: policyPath / "principals" / $0) }
            )
        }
        return RBACRules(action: action, policies: policies)
    }

    static func permission(_ permission: Envoy_Config_Rbac_V3_Permission, at path: FieldPath) throws -> RBACPermission {
        switch permission.rule {
        case .any(let any):
            guard any else { throw (path / "any").error("must be true") }
            return .any
        case .andRules(let set):
            return .and(try set.rules.enumerated().map { try self.permission($1, at: path / "and_rules" / "rules" / $0) })
        case .orRules(let set):
            return .or(try set.rules.enumerated().map { try self.permission($1, at: path / "or_rules" / "rules" / $0) })
        case .notRule(let inner):
            return .not(try self.permission(inner, at: path / "not_rule"))
        case .header(let header):
            return .header(try RouteTranslator.headerMatcher(header, at: path / "header"))
        case .urlPath(let matcher):
            return .urlPath(try pathRule(matcher, at: path / "url_path"))
        case .destinationIp(let cidr):
            return .destinationIP(try range(cidr, at: path / "destination_ip"))
        case .destinationPort(let port):
            return .destinationPort(Int(port))
        case .destinationPortRange(let range):
            guard range.start < range.end else { throw (path / "destination_port_range").error("start must be below end") }
            return .destinationPortRange(Int(range.start)..<Int(range.end))
        case .requestedServerName(let matcher):
            return .requestedServerName(try RouteTranslator.stringMatch(matcher, at: path / "requested_server_name"))
        case nil:
            throw path.error("a permission rule is required")
        default:
            throw path.error("this permission rule is not supported yet (any, and_rules, or_rules, not_rule, header, url_path, destination_ip, destination_port, destination_port_range, requested_server_name)")
        }
    }

    static func principal(_ principal: Envoy_Config_Rbac_V3_Principal, at path: FieldPath) throws -> RBACPrincipal {
        switch principal.identifier {
        case .any(let any):
            guard any else { throw (path / "any").error("must be true") }
            return .any
        case .andIds(let set):
            return .and(try set.ids.enumerated().map { try self.principal($1, at: path / "and_ids" / "ids" / $0) })
        case .orIds(let set):
            return .or(try set.ids.enumerated().map { try self.principal($1, at: path / "or_ids" / "ids" / $0) })
        case .notID(let inner):
            return .not(try self.principal(inner, at: path / "not_id"))
        case .authenticated(let authenticated):
            try SupportedFields.check(authenticated, allowed: ["principal_name"], at: path / "authenticated")
            guard authenticated.hasPrincipalName else { return .authenticated(nil) }
            return .authenticated(try RouteTranslator.stringMatch(authenticated.principalName, at: path / "authenticated" / "principal_name"))
        case .sourceIp(let cidr):
            return .directRemoteIP(try range(cidr, at: path / "source_ip"))
        case .directRemoteIp(let cidr):
            return .directRemoteIP(try range(cidr, at: path / "direct_remote_ip"))
        case .remoteIp(let cidr):
            return .remoteIP(try range(cidr, at: path / "remote_ip"))
        case .header(let header):
            return .header(try RouteTranslator.headerMatcher(header, at: path / "header"))
        case .urlPath(let matcher):
            return .urlPath(try pathRule(matcher, at: path / "url_path"))
        case nil:
            throw path.error("a principal identifier is required")
        default:
            throw path.error("this principal is not supported yet (any, and_ids, or_ids, not_id, authenticated, source_ip, direct_remote_ip, remote_ip, header, url_path)")
        }
    }

    static func pathRule(_ matcher: Envoy_Type_Matcher_V3_PathMatcher, at path: FieldPath) throws -> HeaderMatcher.Rule {
        guard case .path(let string) = matcher.rule else { throw (path / "path").error("a path matcher is required") }
        return try RouteTranslator.stringMatch(string, at: path / "path")
    }

    static func range(_ cidr: Envoy_Config_Core_V3_CidrRange, at path: FieldPath) throws -> CIDRRange {
        guard let range = CIDRRange(cidr.addressPrefix, prefixLength: cidr.hasPrefixLen ? Int(cidr.prefixLen.value) : nil) else {
            throw (path / "address_prefix").error("\"\(cidr.addressPrefix)\"/\(cidr.prefixLen.value) is not an IP range")
        }
        return range
    }
}

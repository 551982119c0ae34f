import EnvoyAPI
import NIOCore
import SkiffCore
import SwiftProtobuf

/// `RouteConfiguration` → `RouteTable`: virtual hosts, routes, matchers and actions.
enum RouteTranslator {
    static func translate(_ config: Envoy_Config_Route_V3_RouteConfiguration, at path: FieldPath, clusters: Set<String>?) throws -> RouteTable {
        try SupportedFields.check(
            config,
            allowed: [
                "name", "virtual_hosts", "request_headers_to_add", "request_headers_to_remove",
                "response_headers_to_add", "response_headers_to_remove", "validate_clusters",
            ],
            at: path
        )
        var hosts: [VirtualHost] = []
        var seenDomains = Set<String>()
        for (index, vhost) in config.virtualHosts.enumerated() {
            let hostPath = path / "virtual_hosts" / index
            let translated = try virtualHost(vhost, at: hostPath, clusters: clusters)
            for domain in translated.domains {
                guard seenDomains.insert(domain.lowercased()).inserted else {
                    throw (hostPath / "domains").error("domain \"\(domain)\" appears in more than one virtual host")
                }
            }
            hosts.append(translated)
        }
        return RouteTable(
            name: config.name, virtualHosts: hosts,
            requestHeaders: try HeaderMutationTranslator.translate(
                config.requestHeadersToAdd, remove: config.requestHeadersToRemove, at: path, prefix: "request"),
            responseHeaders: try HeaderMutationTranslator.translate(
                config.responseHeadersToAdd, remove: config.responseHeadersToRemove, at: path, prefix: "response")
        )
    }

    static func virtualHost(_ vhost: Envoy_Config_Route_V3_VirtualHost, at path: FieldPath, clusters: Set<String>?) throws -> VirtualHost {
        try SupportedFields.check(
            vhost,
            allowed: [
                "name", "domains", "routes", "request_headers_to_add", "request_headers_to_remove",
                "response_headers_to_add", "response_headers_to_remove", "retry_policy", "rate_limits",
            ],
            at: path
        )
        let vhostRetry = vhost.hasRetryPolicy ? try RetryPolicyTranslator.translate(vhost.retryPolicy, at: path / "retry_policy") : nil
        guard !vhost.domains.isEmpty else {
            throw (path / "domains").error("a virtual host needs at least one domain")
        }
        for (index, domain) in vhost.domains.enumerated() where domain != "*" {
            let stars = domain.filter { $0 == "*" }.count
            if stars > 1 || (stars == 1 && !domain.hasPrefix("*") && !domain.hasSuffix("*")) || domain.isEmpty {
                throw (path / "domains" / index).error("invalid domain \"\(domain)\" (wildcards only as a prefix or suffix)")
            }
        }
        var routes: [Route] = []
        for (index, route) in vhost.routes.enumerated() {
            var translated = try self.route(route, at: path / "routes" / index, clusters: clusters)
            if case .forward(var action) = translated.action, action.retryPolicy == nil, let vhostRetry {
                action.retryPolicy = vhostRetry
                translated.action = .forward(action)
            }
            routes.append(translated)
        }
        var out = VirtualHost(
            name: vhost.name, domains: vhost.domains, routes: routes,
            requestHeaders: try HeaderMutationTranslator.translate(
                vhost.requestHeadersToAdd, remove: vhost.requestHeadersToRemove, at: path, prefix: "request"),
            responseHeaders: try HeaderMutationTranslator.translate(
                vhost.responseHeadersToAdd, remove: vhost.responseHeadersToRemove, at: path, prefix: "response")
        )
        out.rateLimits = try LocalRateLimitTranslator.rateLimits(vhost.rateLimits, at: path / "rate_limits")
        return out
    }

    static func route(_ route: Envoy_Config_Route_V3_Route, at path: FieldPath, clusters: Set<String>?) throws -> Route {
        try SupportedFields.check(
            route,
            allowed: [
                "name", "match", "route", "direct_response", "request_headers_to_add", "request_headers_to_remove",
                "response_headers_to_add", "response_headers_to_remove", "metadata", "typed_per_filter_config", "decorator",
            ],
            at: path
        )
        var fault: FaultConfig?
        var localRateLimit: LocalRateLimitConfig?
        var rbac: RBACFilterConfig?
        var rbacDisabled = false
        for (key, any) in route.typedPerFilterConfig.sorted(by: { $0.key < $1.key }) {
            let entryPath = path / "typed_per_filter_config" / key
            if any.typeURL.hasSuffix("/" + FaultTranslator.typeName) {
                let message = try unpack(Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault.self, from: any, at: entryPath)
                fault = try FaultTranslator.translate(message, at: entryPath)
            } else if any.typeURL.hasSuffix("/" + LocalRateLimitTranslator.typeName) {
                let message = try unpack(Envoy_Extensions_Filters_Http_LocalRatelimit_V3_LocalRateLimit.self, from: any, at: entryPath)
                localRateLimit = try LocalRateLimitTranslator.translate(message, at: entryPath)
            } else if any.typeURL.hasSuffix("/" + RBACTranslator.httpPerRouteType) {
                let message = try unpack(Envoy_Extensions_Filters_Http_Rbac_V3_RBACPerRoute.self, from: any, at: entryPath)
                try SupportedFields.check(message, allowed: ["rbac"], at: entryPath)
                if message.hasRbac {
                    rbac = try RBACTranslator.http(message.rbac, at: entryPath / "rbac")
                } else {
                    rbacDisabled = true
                }
            } else {
                throw entryPath.error("per-route config for \(key) is not supported yet (envoy.filters.http.fault, envoy.filters.http.local_ratelimit, envoy.filters.http.rbac)")
            }
        }
        let match = try routeMatch(route.match, at: path / "match")
        let action: RouteAction
        switch route.action {
        case .route(let routeAction):
            action = .forward(try forwardAction(routeAction, match: match, at: path / "route", clusters: clusters))
        case .directResponse(let direct):
            try SupportedFields.check(direct, allowed: ["status", "body"], at: path / "direct_response")
            guard (200...599).contains(direct.status) else {
                throw (path / "direct_response" / "status").error("must be between 200 and 599")
            }
            var body = ""
            if direct.hasBody {
                switch direct.body.specifier {
                case .inlineString(let text): body = text
                case .inlineBytes(let bytes): body = String(decoding: bytes, as: UTF8.self)
                case .filename, .environmentVariable:
                    throw (path / "direct_response" / "body").error("only inline_string and inline_bytes are supported")
                case nil: break
                }
                guard body.utf8.count <= 4096 else {
                    throw (path / "direct_response" / "body").error("bodies are limited to 4096 bytes, as in Envoy")
                }
            }
            action = .directResponse(status: Int(direct.status), body: body)
        case .redirect:
            throw (path / "redirect").error("redirect routes are not supported yet")
        case .filterAction, .nonForwardingAction:
            throw path.error("this route action is not supported")
        case nil:
            throw path.error("a route needs route or direct_response")
        }
        var translated = Route(
            name: route.name, match: match, action: action,
            requestHeaders: try HeaderMutationTranslator.translate(
                route.requestHeadersToAdd, remove: route.requestHeadersToRemove, at: path, prefix: "request"),
            responseHeaders: try HeaderMutationTranslator.translate(
                route.responseHeadersToAdd, remove: route.responseHeadersToRemove, at: path, prefix: "response")
        )
        translated.fault = fault
        translated.localRateLimit = localRateLimit
        translated.rbac = rbac
        translated.rbacDisabled = rbacDisabled
        if route.hasDecorator {
            try SupportedFields.check(route.decorator, allowed: ["operation", "propagate"], at: path / "decorator")
            translated.decoratorOperation = route.decorator.operation.isEmpty ? nil : route.decorator.operation
        }
        return translated
    }

    static func routeMatch(_ match: Envoy_Config_Route_V3_RouteMatch, at path: FieldPath) throws -> RouteMatch {
        try SupportedFields.check(match, allowed: ["prefix", "path", "safe_regex", "headers", "case_sensitive"], at: path)
        let rule: RouteMatch.PathRule
        switch match.pathSpecifier {
        case .prefix(let prefix): rule = .prefix(prefix)
        case .path(let exact): rule = .path(exact)
        case .safeRegex(let regex): rule = .regex(try RegexTranslator.compile(regex, at: path / "safe_regex"))
        case nil: throw path.error("one of prefix, path or safe_regex is required")
        default: throw path.error("this path specifier is not supported yet (prefix, path, safe_regex)")
        }
        var headers: [HeaderMatcher] = []
        for (index, header) in match.headers.enumerated() {
            headers.append(try headerMatcher(header, at: path / "headers" / index))
        }
        let caseSensitive = match.hasCaseSensitive ? match.caseSensitive.value : true
        return RouteMatch(path: rule, caseSensitive: caseSensitive, headers: headers)
    }

    static func headerMatcher(_ header: Envoy_Config_Route_V3_HeaderMatcher, at path: FieldPath) throws -> HeaderMatcher {
        guard !header.name.isEmpty else {
            throw (path / "name").error("a header matcher needs a name")
        }
        let rule: HeaderMatcher.Rule
        switch header.headerMatchSpecifier {
        case .exactMatch(let value): rule = .exact(value, ignoreCase: false)
        case .prefixMatch(let value): rule = .prefix(value, ignoreCase: false)
        case .suffixMatch(let value): rule = .suffix(value, ignoreCase: false)
        case .containsMatch(let value): rule = .contains(value, ignoreCase: false)
        case .safeRegexMatch(let regex): rule = .regex(try RegexTranslator.compile(regex, at: path / "safe_regex_match"))
        case .presentMatch(let present): rule = .present(present)
        case .stringMatch(let matcher): rule = try stringMatch(matcher, at: path / "string_match")
        case .rangeMatch: throw (path / "range_match").error("range_match is not supported yet")
        case nil: rule = .present(true)  // Envoy: no specifier means "header is present".
        }
        return HeaderMatcher(name: header.name, rule: rule, invert: header.invertMatch, treatMissingAsEmpty: header.treatMissingHeaderAsEmpty)
    }

    static func stringMatch(_ matcher: Envoy_Type_Matcher_V3_StringMatcher, at path: FieldPath) throws -> HeaderMatcher.Rule {
        let ignoreCase = matcher.ignoreCase
        switch matcher.matchPattern {
        case .exact(let value): return .exact(value, ignoreCase: ignoreCase)
        case .prefix(let value): return .prefix(value, ignoreCase: ignoreCase)
        case .suffix(let value): return .suffix(value, ignoreCase: ignoreCase)
        case .contains(let value): return .contains(value, ignoreCase: ignoreCase)
        case .safeRegex(let regex): return .regex(try RegexTranslator.compile(regex, at: path / "safe_regex"))
        case .custom: throw (path / "custom").error("custom string matchers are not supported")
        case nil: throw path.error("a match pattern is required")
        }
    }

    static func forwardAction(
        _ action: Envoy_Config_Route_V3_RouteAction, match: RouteMatch, at path: FieldPath, clusters: Set<String>?
    ) throws -> ForwardAction {
        try SupportedFields.check(
            action,
            allowed: [
                "cluster", "weighted_clusters", "timeout", "prefix_rewrite", "host_rewrite_literal", "retry_policy",
                "idle_timeout", "max_stream_duration", "rate_limits", "upgrade_configs",
            ],
            at: path
        )
        let target: ClusterTarget
        switch action.clusterSpecifier {
        case .cluster(let name):
            guard clusters?.contains(name) ?? true else {
                throw (path / "cluster").error("unknown cluster \"\(name)\"")
            }
            target = .single(name)
        case .weightedClusters(let weighted):
            target = try weightedClusters(weighted, at: path / "weighted_clusters", clusters: clusters)
        case nil:
            throw path.error("cluster or weighted_clusters is required")
        default:
            throw path.error("this cluster specifier is not supported yet (cluster, weighted_clusters)")
        }
        var forward = ForwardAction(target: target)
        forward.timeout = ProtoValues.timeout(action.timeout, isSet: action.hasTimeout, default: .seconds(15))
        if !action.prefixRewrite.isEmpty {
            if case .regex = match.path {
                throw (path / "prefix_rewrite").error("prefix_rewrite cannot be used with a safe_regex match")
            }
            forward.prefixRewrite = action.prefixRewrite
        }
        if case .hostRewriteLiteral(let host) = action.hostRewriteSpecifier {
            forward.hostRewrite = host
        }
        if action.hasRetryPolicy {
            forward.retryPolicy = try RetryPolicyTranslator.translate(action.retryPolicy, at: path / "retry_policy")
        }
        if action.hasIdleTimeout {
            forward.idleTimeout = ProtoValues.duration(action.idleTimeout)
        }
        if action.hasMaxStreamDuration {
            let limits = action.maxStreamDuration
            try SupportedFields.check(
                limits, allowed: ["max_stream_duration", "grpc_timeout_header_max", "grpc_timeout_header_offset"], at: path / "max_stream_duration"
            )
            if limits.hasMaxStreamDuration { forward.maxStreamDuration = ProtoValues.duration(limits.maxStreamDuration) }
            if limits.hasGrpcTimeoutHeaderMax { forward.grpcTimeoutHeaderMax = ProtoValues.duration(limits.grpcTimeoutHeaderMax) }
            if limits.hasGrpcTimeoutHeaderOffset { forward.grpcTimeoutHeaderOffset = ProtoValues.duration(limits.grpcTimeoutHeaderOffset) }
        }
        if !action.rateLimits.isEmpty {
            forward.rateLimits = try LocalRateLimitTranslator.rateLimits(action.rateLimits, at: path / "rate_limits")
        }
        for (index, upgrade) in action.upgradeConfigs.enumerated() {
            let upgradePath = path / "upgrade_configs" / index
            try SupportedFields.check(upgrade, allowed: ["upgrade_type", "enabled"], at: upgradePath)
            guard !upgrade.upgradeType.isEmpty else { throw (upgradePath / "upgrade_type").error("upgrade_type is required") }
            forward.upgradeOverrides[upgrade.upgradeType.lowercased()] = !upgrade.hasEnabled || upgrade.enabled.value
        }
        return forward
    }

    static func weightedClusters(_ weighted: Envoy_Config_Route_V3_WeightedCluster, at path: FieldPath, clusters: Set<String>?) throws -> ClusterTarget {
        try SupportedFields.check(weighted, allowed: ["clusters", "total_weight", "runtime_key_prefix"], at: path)
        guard !weighted.clusters.isEmpty else {
            throw (path / "clusters").error("at least one cluster is required")
        }
        var entries: [WeightedClusterEntry] = []
        for (index, entry) in weighted.clusters.enumerated() {
            let entryPath = path / "clusters" / index
            try SupportedFields.check(entry, allowed: ["name", "weight"], at: entryPath)
            guard clusters?.contains(entry.name) ?? true else {
                throw (entryPath / "name").error("unknown cluster \"\(entry.name)\"")
            }
            entries.append(WeightedClusterEntry(name: entry.name, weight: entry.hasWeight ? Int(entry.weight.value) : 0))
        }
        let sum = entries.reduce(0) { $0 + $1.weight }
        if weighted.hasTotalWeight, Int(weighted.totalWeight.value) != sum {
            throw (path / "total_weight").error("total_weight \(weighted.totalWeight.value) does not equal the sum of weights \(sum)")
        }
        guard sum > 0 else {
            throw path.error("the sum of weights must be greater than 0")
        }
        return .weighted(entries, totalWeight: sum)
    }
}

/// `safe_regex` → a compiled regex, with the pattern's error as the message.
enum RegexTranslator {
    static func compile(_ regex: Envoy_Type_Matcher_V3_RegexMatcher, at path: FieldPath) throws -> CompiledRegex {
        try SupportedFields.check(regex, allowed: ["regex", "google_re2"], at: path)
        do {
            return try CompiledRegex(regex.regex)
        } catch {
            throw (path / "regex").error("invalid regex \"\(regex.regex)\": \(error)")
        }
    }
}

/// `*_headers_to_add` / `*_headers_to_remove` → `HeaderMutations`.
enum HeaderMutationTranslator {
    static func translate(
        _ add: [Envoy_Config_Core_V3_HeaderValueOption], remove: [String], at path: FieldPath, prefix: String
    ) throws -> HeaderMutations {
        var additions: [HeaderMutations.Addition] = []
        for (index, option) in add.enumerated() {
            let optionPath = path / "\(prefix)_headers_to_add" / index
            try SupportedFields.check(option, allowed: ["header", "append", "append_action", "keep_empty_value"], at: optionPath)
            let name = option.header.key.lowercased()
            guard !name.isEmpty, !name.hasPrefix(":") else {
                throw (optionPath / "header" / "key").error("a header name is required and cannot be a pseudo-header")
            }
            let value = option.header.value
            if value.contains("%") {
                throw (optionPath / "header" / "value").error("header value formatters (%...%) are not supported yet")
            }
            var action: HeaderMutations.AppendAction
            switch option.appendAction {
            case .appendIfExistsOrAdd: action = .appendIfExistsOrAdd
            case .addIfAbsent: action = .addIfAbsent
            case .overwriteIfExistsOrAdd: action = .overwriteIfExistsOrAdd
            case .overwriteIfExists: action = .overwriteIfExists
            case .UNRECOGNIZED(let raw): throw (optionPath / "append_action").error("unknown value \(raw)")
            }
            if option.hasAppend {
                // Deprecated `append`: true appends, false overwrites.
                action = option.append.value ? .appendIfExistsOrAdd : .overwriteIfExistsOrAdd
            }
            if value.isEmpty && !option.keepEmptyValue {
                continue
            }
            additions.append(.init(name: name, value: value, action: action))
        }
        return HeaderMutations(add: additions, remove: remove.map { $0.lowercased() })
    }
}

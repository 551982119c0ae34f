import NIOCore

/// A route configuration (`envoy.config.route.v3.RouteConfiguration`) after translation.
///
/// Virtual hosts are indexed by domain at build time (exact names in a dictionary, wildcards by
/// suffix and prefix, longest first) so choosing one costs a hash lookup in the common case.
public struct RouteTable: Sendable {
    public var name: String
    public var virtualHosts: [VirtualHost]
    public var requestHeaders: HeaderMutations
    public var responseHeaders: HeaderMutations

    /// Exact domain (lower-cased, port stripped unless the domain names one) → virtual host index.
    public let exactDomains: [String: Int]
    /// `*.example.com` style wildcards: (suffix including the dot, index), longest suffix first.
    public let suffixDomains: [(suffix: String, index: Int)]
    /// `foo.*` style wildcards: (prefix, index), longest prefix first.
    public let prefixDomains: [(prefix: String, index: Int)]
    /// The `*` virtual host, if any.
    public let defaultHost: Int?

    public init(
        name: String, virtualHosts: [VirtualHost],
        requestHeaders: HeaderMutations = .init(), responseHeaders: HeaderMutations = .init()
    ) {
        self.name = name
        self.virtualHosts = virtualHosts
        self.requestHeaders = requestHeaders
        self.responseHeaders = responseHeaders
        var exact: [String: Int] = [:]
        var suffixes: [(String, Int)] = []
        var prefixes: [(String, Int)] = []
        var fallback: Int?
        for (index, host) in virtualHosts.enumerated() {
            for domain in host.domains.map({ $0.lowercased() }) {
                if domain == "*" {
                    fallback = fallback ?? index
                } else if domain.hasPrefix("*") {
                    suffixes.append((String(domain.dropFirst()), index))
                } else if domain.hasSuffix("*") {
                    prefixes.append((String(domain.dropLast()), index))
                } else if exact[domain] == nil {
                    exact[domain] = index
                }
            }
        }
        self.exactDomains = exact
        self.suffixDomains = suffixes.sorted { $0.0.count > $1.0.count }.map { (suffix: $0.0, index: $0.1) }
        self.prefixDomains = prefixes.sorted { $0.0.count > $1.0.count }.map { (prefix: $0.0, index: $0.1) }
        self.defaultHost = fallback
    }
}

/// `envoy.config.route.v3.VirtualHost` after translation.
public struct VirtualHost: Sendable {
    public var name: String
    public var domains: [String]
    public var routes: [Route]
    public var requestHeaders: HeaderMutations
    public var responseHeaders: HeaderMutations
    /// `rate_limits`, for the local rate limit filter.
    public var rateLimits: [RateLimitRule] = []
    /// `upgrade_configs`: per upgrade type (lowercased), enabled or disabled on this route,
    /// overriding the connection manager's `upgrade_configs` either way.
    public var upgradeOverrides: [String: Bool] = [:]

    public init(
        name: String, domains: [String], routes: [Route],
        requestHeaders: HeaderMutations = .init(), responseHeaders: HeaderMutations = .init()
    ) {
        self.name = name
        self.domains = domains
        self.routes = routes
        self.requestHeaders = requestHeaders
        self.responseHeaders = responseHeaders
    }
}

/// `envoy.config.route.v3.Route` after translation.
public struct Route: Sendable {
    public var name: String
    public var match: RouteMatch
    public var action: RouteAction
    public var requestHeaders: HeaderMutations
    public var responseHeaders: HeaderMutations
    /// `typed_per_filter_config["envoy.filters.http.fault"]`: replaces the connection manager's
    /// fault configuration for this route.
    public var fault: FaultConfig? = nil
    /// `typed_per_filter_config["envoy.filters.http.local_ratelimit"]`.
    public var localRateLimit: LocalRateLimitConfig? = nil
    /// `typed_per_filter_config["envoy.filters.http.rbac"]` (`RBACPerRoute`): replaces the
    /// connection manager's rules; `rbacDisabled` when the override has none.
    public var rbac: RBACFilterConfig? = nil
    public var rbacDisabled = false
    /// `decorator.operation`: the name of this route's trace spans.
    public var decoratorOperation: String? = nil

    public init(
        name: String, match: RouteMatch, action: RouteAction,
        requestHeaders: HeaderMutations = .init(), responseHeaders: HeaderMutations = .init()
    ) {
        self.name = name
        self.match = match
        self.action = action
        self.requestHeaders = requestHeaders
        self.responseHeaders = responseHeaders
    }
}

/// `envoy.config.route.v3.RouteMatch`: a path rule plus header matchers, all of which must match.
public struct RouteMatch: Sendable {
    public enum PathRule: Sendable {
        case prefix(String)
        case path(String)
        /// `safe_regex`: the whole path (without query) must match.
        case regex(CompiledRegex)
    }

    public var path: PathRule
    /// `case_sensitive` (default true) for prefix and path.
    public var caseSensitive: Bool
    public var headers: [HeaderMatcher]

    public init(path: PathRule, caseSensitive: Bool = true, headers: [HeaderMatcher] = []) {
        self.path = path
        self.caseSensitive = caseSensitive
        self.headers = headers
    }
}

/// `envoy.config.route.v3.HeaderMatcher`.
public struct HeaderMatcher: Sendable {
    public enum Rule: Sendable {
        case exact(String, ignoreCase: Bool)
        case prefix(String, ignoreCase: Bool)
        case suffix(String, ignoreCase: Bool)
        case contains(String, ignoreCase: Bool)
        case regex(CompiledRegex)
        /// `present_match`: true requires presence, false requires absence.
        case present(Bool)
    }

    /// Lower-cased header name.
    public var name: String
    public var rule: Rule
    /// `invert_match`.
    public var invert: Bool
    /// `treat_missing_header_as_empty`.
    public var treatMissingAsEmpty: Bool

    public init(name: String, rule: Rule, invert: Bool = false, treatMissingAsEmpty: Bool = false) {
        self.name = name.lowercased()
        self.rule = rule
        self.invert = invert
        self.treatMissingAsEmpty = treatMissingAsEmpty
    }
}

/// What a matched route does.
public enum RouteAction: Sendable {
    case forward(ForwardAction)
    /// `direct_response`: answer locally with this status and body.
    case directResponse(status: Int, body: String)
}

/// `envoy.config.route.v3.RouteAction` (the forwarding subset Skiff implements).
public struct ForwardAction: Sendable {
    public var target: ClusterTarget
    /// `timeout` (Envoy default 15 s); nil means disabled (`0s`).
    public var timeout: TimeAmount?
    /// `prefix_rewrite`, applied to the matched prefix (or the whole path for `path` matches).
    public var prefixRewrite: String?
    /// `host_rewrite_literal`.
    public var hostRewrite: String?
    /// `retry_policy` (the route's, else its virtual host's); nil: no retries unless the request
    /// asks with `x-envoy-retry-on`.
    public var retryPolicy: RetryPolicy?
    /// `idle_timeout`: replaces the connection manager's `stream_idle_timeout` for this route;
    /// nil inherits it, zero disables it.
    public var idleTimeout: TimeAmount?
    /// `max_stream_duration.max_stream_duration`: replaces the connection manager's
    /// `max_stream_duration`; nil inherits it, zero disables it.
    public var maxStreamDuration: TimeAmount?
    /// `max_stream_duration.grpc_timeout_header_max`: when set, a gRPC request's `grpc-timeout`
    /// becomes its stream duration, capped by this (zero: no cap).
    public var grpcTimeoutHeaderMax: TimeAmount?
    /// `max_stream_duration.grpc_timeout_header_offset`: taken off the `grpc-timeout` value.
    public var grpcTimeoutHeaderOffset: TimeAmount?
    /// `rate_limits`, for the local rate limit filter.
    public var rateLimits: [RateLimitRule] = []
    /// `upgrade_configs`: per upgrade type (lowercased), enabled or disabled on this route,
    /// overriding the connection manager's `upgrade_configs` either way.
    public var upgradeOverrides: [String: Bool] = [:]

    public init(target: ClusterTarget, timeout: TimeAmount? = .seconds(15), prefixRewrite: String? = nil, hostRewrite: String? = nil) {
        self.target = target
        self.timeout = timeout
        self.prefixRewrite = prefixRewrite
        self.hostRewrite = hostRewrite
        self.retryPolicy = nil
        self.idleTimeout = nil
        self.maxStreamDuration = nil
        self.grpcTimeoutHeaderMax = nil
        self.grpcTimeoutHeaderOffset = nil
    }
}

/// Header additions and removals at one level (route configuration, virtual host or route).
public struct HeaderMutations: Sendable {
    /// `HeaderValueOption.append_action`.
    public enum AppendAction: Sendable {
        case appendIfExistsOrAdd
        case addIfAbsent
        case overwriteIfExistsOrAdd
        case overwriteIfExists
    }

    public struct Addition: Sendable {
        public var name: String
        public var value: String
        public var action: AppendAction

        public init(name: String, value: String, action: AppendAction) {
            self.name = name
            self.value = value
            self.action = action
        }
    }

    public var add: [Addition]
    /// Lower-cased names to remove.
    public var remove: [String]

    public init(add: [Addition] = [], remove: [String] = []) {
        self.add = add
        self.remove = remove
    }

    public var isEmpty: Bool { add.isEmpty && remove.isEmpty }
}

/// A compiled `safe_regex` (RE2 syntax, whole-string match as Envoy applies it).
///
/// Swift's `Regex` is a value with an internally cached program; the box makes it shareable across
/// workers. The program is compiled once at config time (`init` runs a probe match), never on the
/// request path.
public final class CompiledRegex: @unchecked Sendable {
    public let pattern: String
    private let regex: Regex<AnyRegexOutput>

    public init(_ pattern: String) throws {
        self.pattern = pattern
        self.regex = try Regex(pattern)
        _ = try? regex.wholeMatch(in: "")
    }

    public func matches(_ input: Substring) -> Bool {
        (try? regex.wholeMatch(in: input)) != nil
    }

    public func matches(_ input: String) -> Bool {
        matches(input[...])
    }
}

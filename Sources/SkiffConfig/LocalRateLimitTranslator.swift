import EnvoyAPI
import NIOCore
import SkiffCore

/// `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit` → `LocalRateLimitConfig`.
enum LocalRateLimitTranslator {
    static let typeName = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
    static let filterName = "envoy.filters.http.local_ratelimit"

    static func translate(_ config: Envoy_Extensions_Filters_Http_LocalRatelimit_V3_LocalRateLimit, at path: FieldPath) throws -> LocalRateLimitConfig {
        try SupportedFields.check(
            config,
            allowed: [
                "stat_prefix", "status", "token_bucket", "filter_enabled", "filter_enforced", "response_headers_to_add",
                "descriptors", "enable_x_ratelimit_headers", "always_consume_default_token_bucket", "rate_limits",
                "stage", "vh_rate_limits",
            ],
            at: path, hint: "per-connection and cluster-wide limits arrive later"
        )
        guard !config.statPrefix.isEmpty else {
            throw (path / "stat_prefix").error("stat_prefix is required")
        }
        let now = ContinuousClockReading.now()
        var out = LocalRateLimitConfig(statPrefix: config.statPrefix)
        if config.hasStatus {
            let code = Int(config.status.code.rawValue)
            guard (400...599).contains(code) else { throw (path / "status").error("must be a 4xx or 5xx status") }
            out.status = code
        }
        if config.hasTokenBucket {
            out.bucket = try bucket(config.tokenBucket, at: path / "token_bucket", now: now)
        }
        if config.hasFilterEnabled {
            out.enabled = try FaultTranslator.percentage(config.filterEnabled.defaultValue, isSet: config.filterEnabled.hasDefaultValue,
                                                         at: path / "filter_enabled" / "default_value")
        }
        if config.hasFilterEnforced {
            out.enforced = try FaultTranslator.percentage(config.filterEnforced.defaultValue, isSet: config.filterEnforced.hasDefaultValue,
                                                          at: path / "filter_enforced" / "default_value")
        }
        out.responseHeaders = try HeaderMutationTranslator.translate(config.responseHeadersToAdd, remove: [], at: path, prefix: "response")
        for (index, descriptor) in config.descriptors.enumerated() {
            let descriptorPath = path / "descriptors" / index
            try SupportedFields.check(descriptor, allowed: ["entries", "token_bucket"], at: descriptorPath)
            guard descriptor.hasTokenBucket, !descriptor.entries.isEmpty else {
                throw descriptorPath.error("entries and token_bucket are required")
            }
            out.descriptors.append(LocalRateLimitConfig.Descriptor(
                entries: descriptor.entries.map { (key: $0.key, value: $0.value) },
                bucket: try bucket(descriptor.tokenBucket, at: descriptorPath / "token_bucket", now: now)
            ))
        }
        out.rateLimits = try rateLimits(config.rateLimits, at: path / "rate_limits").map(\.actions)
        out.stage = Int(config.stage)
        switch config.vhRateLimits {
        case .override: out.virtualHostRateLimits = .override
        case .include: out.virtualHostRateLimits = .include
        case .ignore: out.virtualHostRateLimits = .ignore
        case .UNRECOGNIZED(let value): throw (path / "vh_rate_limits").error("unknown value \(value)")
        }
        out.xRateLimitHeaders = config.enableXRatelimitHeaders == .draftVersion03
        if config.hasAlwaysConsumeDefaultTokenBucket {
            out.alwaysConsumeDefault = config.alwaysConsumeDefaultTokenBucket.value
        }
        return out
    }

    /// `rate_limits` entries (filter, route or virtual host): the actions that build descriptors.
    static func rateLimits(_ limits: [Envoy_Config_Route_V3_RateLimit], at path: FieldPath) throws -> [RateLimitRule] {
        try limits.enumerated().map { index, limit in
            let limitPath = path / index
            try SupportedFields.check(limit, allowed: ["actions", "stage"], at: limitPath)
            var actions: [LocalRateLimitConfig.Action] = []
            for (actionIndex, action) in limit.actions.enumerated() {
                let actionPath = limitPath / "actions" / actionIndex
                switch action.actionSpecifier {
                case .requestHeaders(let headers):
                    try SupportedFields.check(headers, allowed: ["header_name", "descriptor_key", "skip_if_absent"], at: actionPath / "request_headers")
                    actions.append(.requestHeader(name: headers.headerName.lowercased(), key: headers.descriptorKey))
                case .genericKey(let generic):
                    try SupportedFields.check(generic, allowed: ["descriptor_value", "descriptor_key"], at: actionPath / "generic_key")
                    actions.append(.genericKey(key: generic.descriptorKey.isEmpty ? "generic_key" : generic.descriptorKey, value: generic.descriptorValue))
                default:
                    throw actionPath.error("only request_headers and generic_key actions are supported yet")
                }
            }
            return RateLimitRule(stage: limit.hasStage ? Int(limit.stage.value) : 0, actions: actions)
        }
    }

    static func bucket(_ bucket: Envoy_Type_V3_TokenBucket, at path: FieldPath, now: UInt64) throws -> SharedTokenBucket {
        try SupportedFields.check(bucket, allowed: ["max_tokens", "tokens_per_fill", "fill_interval"], at: path)
        guard bucket.maxTokens > 0 else { throw (path / "max_tokens").error("must be greater than 0") }
        let interval = ProtoValues.duration(bucket.fillInterval)
        guard interval.nanoseconds >= 1_000_000 else { throw (path / "fill_interval").error("must be at least 1ms") }
        let perFill = bucket.hasTokensPerFill ? Int(bucket.tokensPerFill.value) : 1
        return SharedTokenBucket(maxTokens: Int(bucket.maxTokens), tokensPerFill: max(perFill, 1), fillInterval: interval, now: now)
    }
}

import NIOCore
import NIOHTTP1
import SkiffCore

/// The local rate limit filter's decision for one request (Envoy's
/// `envoy.filters.http.local_ratelimit`). The buckets are shared atomics; everything else is pure.
enum LocalRateLimiter {
    enum Outcome {
        /// `filter_enabled` did not select this request.
        case disabled
        /// Under the limit; `headers` are the `x-ratelimit-*` headers to add, if enabled.
        case allowed(headers: HeaderMutations)
        /// Over the limit; answered with `status` when `enforced`, else let through.
        case limited(enforced: Bool, headers: HeaderMutations)
    }

    /// The descriptor rules for a request: the filter's own `rate_limits`, else the route's and
    /// the virtual host's of the filter's `stage` (per `vh_rate_limits`).
    static func rules(_ config: LocalRateLimitConfig, route: [RateLimitRule], virtualHost: [RateLimitRule]) -> [[LocalRateLimitConfig.Action]] {
        if !config.rateLimits.isEmpty || (route.isEmpty && virtualHost.isEmpty) { return config.rateLimits }
        var rules = route
        switch config.virtualHostRateLimits {
        case .override where route.isEmpty, .include: rules += virtualHost
        case .override, .ignore: break
        }
        return rules.filter { $0.stage == config.stage }.map(\.actions)
    }

    static func check(
        _ config: LocalRateLimitConfig, rules: [[LocalRateLimitConfig.Action]], headers: HTTPHeaders, random: inout FastRandom, now: UInt64
    ) -> Outcome {
        guard config.enabled.hit(random.next()) else { return .disabled }
        // Request descriptors from `rate_limits`: a descriptor whose header is absent is skipped.
        var requestDescriptors: [[(key: String, value: String)]] = []
        for actions in rules {
            var entries: [(key: String, value: String)] = []
            var complete = true
            for action in actions {
                switch action {
                case .requestHeader(let name, let key):
                    if let value = headers.first(name: name) { entries.append((key, value)) } else { complete = false }
                case .genericKey(let key, let value):
                    entries.append((key, value))
                }
            }
            if complete, !entries.isEmpty { requestDescriptors.append(entries) }
        }
        let matched = config.descriptors.filter { descriptor in
            requestDescriptors.contains { entries in
                entries.count == descriptor.entries.count
                    && zip(entries, descriptor.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            }
        }
        var allowed = true
        for descriptor in matched where !descriptor.bucket.take(now: now) {
            allowed = false
        }
        if let bucket = config.bucket, matched.isEmpty || config.alwaysConsumeDefault {
            if allowed, !bucket.take(now: now) { allowed = false }
        }
        var out = config.responseHeaders
        if config.xRateLimitHeaders, let bucket = matched.first?.bucket ?? config.bucket {
            out.add.append(.init(name: "x-ratelimit-limit", value: String(bucket.maxTokens), action: .overwriteIfExistsOrAdd))
            out.add.append(.init(name: "x-ratelimit-remaining", value: String(bucket.remaining(now: now)), action: .overwriteIfExistsOrAdd))
            out.add.append(.init(name: "x-ratelimit-reset", value: String(bucket.secondsToReset(now: now)), action: .overwriteIfExistsOrAdd))
        }
        if allowed {
            // response_headers_to_add apply only to rate-limited responses, as in Envoy.
            let rateHeaders = HeaderMutations(add: out.add.filter { $0.name.hasPrefix("x-ratelimit-") })
            return .allowed(headers: rateHeaders)
        }
        return .limited(enforced: config.enforced.hit(random.next()), headers: out)
    }
}

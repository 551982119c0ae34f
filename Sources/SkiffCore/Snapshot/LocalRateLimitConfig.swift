import NIOCore
import Synchronization

/// A token bucket shared by every worker (`envoy.type.v3.TokenBucket`): `max_tokens`, refilled
/// by `tokens_per_fill` every `fill_interval`. Lock-free: the refill and the take are
/// compare-and-swap loops; the clock is passed in.
public final class SharedTokenBucket: Sendable {
    public let maxTokens: Int
    public let tokensPerFill: Int
    public let fillInterval: UInt64
    private let tokens: Atomic<Int>
    /// Monotonic nanoseconds of the next refill.
    private let nextFill: Atomic<UInt64>

    public init(maxTokens: Int, tokensPerFill: Int, fillInterval: TimeAmount, now: UInt64) {
        self.maxTokens = maxTokens
        self.tokensPerFill = tokensPerFill
        self.fillInterval = UInt64(max(fillInterval.nanoseconds, 1))
        self.tokens = Atomic(maxTokens)
        self.nextFill = Atomic(now &+ UInt64(max(fillInterval.nanoseconds, 1)))
    }

    private func refill(now: UInt64) {
        var next = nextFill.load(ordering: .relaxed)
        while now >= next {
            let periods = (now - next) / fillInterval + 1
            let (exchanged, original) = nextFill.compareExchange(expected: next, desired: next + periods * fillInterval, ordering: .relaxed)
            if exchanged {
                let add = Int(min(periods, UInt64(Int32.max))) * tokensPerFill
                var current = tokens.load(ordering: .relaxed)
                while true {
                    let (done, seen) = tokens.compareExchange(expected: current, desired: min(maxTokens, current + add), ordering: .relaxed)
                    if done { break }
                    current = seen
                }
                return
            }
            next = original
        }
    }

    /// Takes one token if there is one.
    public func take(now: UInt64) -> Bool {
        refill(now: now)
        var current = tokens.load(ordering: .relaxed)
        while current > 0 {
            let (exchanged, original) = tokens.compareExchange(expected: current, desired: current - 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    public func remaining(now: UInt64) -> Int {
        refill(now: now)
        return tokens.load(ordering: .relaxed)
    }

    /// Seconds until the next refill (for `x-ratelimit-reset`).
    public func secondsToReset(now: UInt64) -> Int {
        let next = nextFill.load(ordering: .relaxed)
        return next > now ? Int((next - now + 999_999_999) / 1_000_000_000) : 0
    }
}

/// `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit` after translation.
public struct LocalRateLimitConfig: Sendable {
    /// One `rate_limits` action: where a descriptor entry's value comes from.
    public enum Action: Sendable {
        /// `request_headers`: the header's value under `key`; absent skips the descriptor (or,
        /// without `skip_if_absent`, the whole descriptor too: Envoy's behaviour either way).
        case requestHeader(name: String, key: String)
        /// `generic_key`: a fixed value.
        case genericKey(key: String, value: String)
    }

    /// `vh_rate_limits`: whether the virtual host's `rate_limits` count when the filter has none.
    public enum VirtualHostRateLimits: Sendable {
        /// OVERRIDE (default): the virtual host's only when the route has none.
        case override
        /// INCLUDE: the route's and the virtual host's.
        case include
        /// IGNORE: the route's only.
        case ignore
    }

    public struct Descriptor: Sendable {
        public var entries: [(key: String, value: String)]
        public var bucket: SharedTokenBucket

        public init(entries: [(key: String, value: String)], bucket: SharedTokenBucket) {
            self.entries = entries
            self.bucket = bucket
        }
    }

    public var statPrefix: String
    public var status: Int
    /// The default bucket (`token_bucket`); nil: only descriptors limit.
    public var bucket: SharedTokenBucket?
    public var enabled: FractionalPercent
    public var enforced: FractionalPercent
    public var responseHeaders: HeaderMutations
    public var descriptors: [Descriptor]
    /// `rate_limits`: each entry's actions build one request descriptor. When empty, the route's
    /// and virtual host's `rate_limits` of this filter's `stage` are used.
    public var rateLimits: [[Action]]
    /// `stage` (default 0): which route `rate_limits` entries apply.
    public var stage: Int
    public var virtualHostRateLimits: VirtualHostRateLimits
    /// `enable_x_ratelimit_headers: DRAFT_VERSION_03`.
    public var xRateLimitHeaders: Bool
    /// `always_consume_default_token_bucket` (default true).
    public var alwaysConsumeDefault: Bool

    public init(statPrefix: String) {
        self.statPrefix = statPrefix
        self.status = 429
        self.bucket = nil
        self.enabled = .zero
        self.enforced = .zero
        self.responseHeaders = HeaderMutations()
        self.descriptors = []
        self.rateLimits = []
        self.stage = 0
        self.virtualHostRateLimits = .override
        self.xRateLimitHeaders = false
        self.alwaysConsumeDefault = true
    }
}

/// One `envoy.config.route.v3.RateLimit` on a route or virtual host: at filter `stage`, its
/// actions build one request descriptor.
public struct RateLimitRule: Sendable {
    public var stage: Int
    public var actions: [LocalRateLimitConfig.Action]

    public init(stage: Int, actions: [LocalRateLimitConfig.Action]) {
        self.stage = stage
        self.actions = actions
    }
}

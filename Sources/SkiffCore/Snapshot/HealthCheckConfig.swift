import NIOCore

/// One `Cluster.health_checks` entry after translation (HTTP or TCP).
public struct HealthCheckConfig: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// GET `path` with `host` (default: the cluster name); healthy when the status falls in
        /// one of `expected` (half-open ranges; default 200 only).
        case http(path: String, host: String?, expected: [Range<Int>])
        /// Connect, write `send` (may be empty), healthy when every `receive` payload appears.
        case tcp(send: [UInt8], receive: [[UInt8]])
    }

    public var kind: Kind
    public var timeout: TimeAmount
    public var interval: TimeAmount
    public var intervalJitter: TimeAmount = .zero
    /// `interval_jitter_percent`: up to this share of the interval is added at random.
    public var intervalJitterPercent = 0
    /// `initial_jitter`: the first check waits up to this long.
    public var initialJitter: TimeAmount = .zero
    /// `no_traffic_interval` (default 60 s): the interval while the cluster has never opened an
    /// upstream connection; `no_traffic_healthy_interval` for healthy hosts then, if set.
    public var noTrafficInterval: TimeAmount = .seconds(60)
    public var noTrafficHealthyInterval: TimeAmount?
    /// `unhealthy_interval` (default `interval`) for unhealthy hosts; `unhealthy_edge_interval`
    /// (default `unhealthy_interval`) and `healthy_edge_interval` (default `interval`) for the
    /// check right after a host changed state.
    public var unhealthyInterval: TimeAmount?
    public var unhealthyEdgeInterval: TimeAmount?
    public var healthyEdgeInterval: TimeAmount?
    /// `unhealthy_threshold` / `healthy_threshold`: consecutive results to change state.
    public var unhealthyThreshold: Int
    public var healthyThreshold: Int

    public init(kind: Kind, timeout: TimeAmount, interval: TimeAmount, unhealthyThreshold: Int, healthyThreshold: Int) {
        self.kind = kind
        self.timeout = timeout
        self.interval = interval
        self.unhealthyThreshold = unhealthyThreshold
        self.healthyThreshold = healthyThreshold
    }
}

extension HealthCheckConfig {
    /// When a host's next check is due, as Envoy schedules it: the no-traffic interval until the
    /// cluster has carried traffic, else by the host's state (and whether it just changed), plus
    /// `interval_jitter` and `interval_jitter_percent` drawn from `random`.
    public func nextDelay(hadTraffic: Bool, healthy: Bool, justChanged: Bool, random: UInt64) -> TimeAmount {
        var base: TimeAmount
        if !hadTraffic {
            base = healthy ? (noTrafficHealthyInterval ?? noTrafficInterval) : noTrafficInterval
        } else if healthy {
            base = justChanged ? (healthyEdgeInterval ?? interval) : interval
        } else {
            let unhealthy = unhealthyInterval ?? interval
            base = justChanged ? (unhealthyEdgeInterval ?? unhealthy) : unhealthy
        }
        var jitter: Int64 = 0
        if intervalJitter.nanoseconds > 0 { jitter += Int64(random % UInt64(intervalJitter.nanoseconds)) }
        let percentShare = base.nanoseconds / 100 * Int64(intervalJitterPercent)
        if percentShare > 0 { jitter += Int64((random >> 17) % UInt64(percentShare)) }
        return .nanoseconds(base.nanoseconds + jitter)
    }
}

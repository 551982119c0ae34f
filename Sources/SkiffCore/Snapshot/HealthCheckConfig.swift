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

import NIOCore

/// `Cluster.outlier_detection` after translation: consecutive-failure ejection (Envoy's defaults).
public struct OutlierDetectionConfig: Sendable, Equatable {
    /// `consecutive_5xx` (default 5) and `enforcing_consecutive_5xx` (default 100 %).
    public var consecutive5xx = 5
    public var enforcingConsecutive5xx = 100
    /// `consecutive_gateway_failure` (default 5; 502/503/504, resets and connect failures) and
    /// `enforcing_consecutive_gateway_failure` (default 0 %: detected and counted, not enforced).
    public var consecutiveGatewayFailure = 5
    public var enforcingConsecutiveGatewayFailure = 0
    /// `interval` (default 10 s): how often ejected hosts are considered for return.
    public var interval: TimeAmount = .seconds(10)
    /// `base_ejection_time` (default 30 s) × number of ejections, capped by `max_ejection_time`
    /// (default 300 s), plus up to `max_ejection_time_jitter` (default 0).
    public var baseEjectionTime: TimeAmount = .seconds(30)
    public var maxEjectionTime: TimeAmount = .seconds(300)
    public var maxEjectionTimeJitter: TimeAmount = .zero
    /// `max_ejection_percent` (default 10 %), applied exactly: an ejection that would take the
    /// ejected share above it does not happen (`ejections_overflow`).
    public var maxEjectionPercent = 10
    /// `always_eject_one_host`: one host may be ejected whatever the percentage.
    public var alwaysEjectOneHost = false

    public init() {}
}

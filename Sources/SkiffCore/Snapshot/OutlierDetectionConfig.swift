import NIOCore

/// `Cluster.outlier_detection` after translation, with Envoy's defaults.
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
    /// `split_external_local_origin_errors`: connect failures, resets and timeouts count apart
    /// from HTTP responses, under `consecutive_local_origin_failure` (default 5) and
    /// `enforcing_consecutive_local_origin_failure` (default 100 %).
    public var splitExternalLocalOriginErrors = false
    public var consecutiveLocalOriginFailure = 5
    public var enforcingConsecutiveLocalOriginFailure = 100
    /// Success-rate detection per interval: hosts with `success_rate_request_volume` (100)
    /// requests, when at least `success_rate_minimum_hosts` (5) have them, are ejected below
    /// mean − `success_rate_stdev_factor` / 1000 (1900) × stdev; `enforcing_success_rate` and
    /// `enforcing_local_origin_success_rate` default to 100 %.
    public var successRateMinimumHosts = 5
    public var successRateRequestVolume = 100
    public var successRateStdevFactor = 1900
    public var enforcingSuccessRate = 100
    public var enforcingLocalOriginSuccessRate = 100
    /// Failure-percentage detection: at or above `failure_percentage_threshold` (85 %) among hosts
    /// with `failure_percentage_request_volume` (50), when `failure_percentage_minimum_hosts`
    /// (5) have it; `enforcing_failure_percentage` (and its local-origin twin) default to 0.
    public var failurePercentageThreshold = 85
    public var failurePercentageRequestVolume = 50
    public var failurePercentageMinimumHosts = 5
    public var enforcingFailurePercentage = 0
    public var enforcingFailurePercentageLocalOrigin = 0

    public init() {}
}

extension OutlierDetectionConfig {
    /// The `enforcing_*` percentage for a detection type, by its Envoy stat suffix.
    public func enforcing(_ suffix: String) -> Int {
        switch suffix {
        case "consecutive_5xx": return enforcingConsecutive5xx
        case "consecutive_gateway_failure": return enforcingConsecutiveGatewayFailure
        case "consecutive_local_origin_failure": return enforcingConsecutiveLocalOriginFailure
        case "success_rate": return enforcingSuccessRate
        case "local_origin_success_rate": return enforcingLocalOriginSuccessRate
        case "failure_percentage": return enforcingFailurePercentage
        case "local_origin_failure_percentage": return enforcingFailurePercentageLocalOrigin
        default: return 0
        }
    }
}

import SkiffCore
import Synchronization

/// One host's health state, shared by every worker's copy of the host: outlier detection
/// (per cluster across workers, with atomics instead of locks), active health checking, and the
/// host's connection count for `per_host_thresholds`.
public final class HostHealth: Sendable {
    let consecutive5xx = Atomic<Int>(0)
    let consecutiveGatewayFailure = Atomic<Int>(0)
    let consecutiveLocalOriginFailure = Atomic<Int>(0)
    /// This interval's requests and successes, by origin (success-rate and failure-percentage
    /// detection read and reset them every `interval`).
    let externalTotal = Atomic<Int>(0)
    let externalSuccess = Atomic<Int>(0)
    let localOriginTotal = Atomic<Int>(0)
    let localOriginSuccess = Atomic<Int>(0)
    /// Monotonic nanoseconds until which the host is ejected; 0 when it is not.
    let ejectedUntil = Atomic<UInt64>(0)
    /// Ejections so far: the next ejection lasts `base_ejection_time` × (this + 1).
    let ejections = Atomic<Int>(0)
    /// Open connections to the host from every worker (`per_host_thresholds.max_connections`).
    let connections = Atomic<Int>(0)
    /// Active health checking says the host is unhealthy (or has not passed its first check).
    let failedActiveCheck: Atomic<Bool>

    /// `pendingActiveCheck`: the cluster health-checks its hosts, and a new host is not used
    /// until it passes its first check (Envoy's `/pending_active_hc`).
    public init(pendingActiveCheck: Bool = false) {
        failedActiveCheck = Atomic(pendingActiveCheck)
    }

    public var isEjected: Bool { ejectedUntil.load(ordering: .relaxed) != 0 }
    public var isFailingActiveCheck: Bool { failedActiveCheck.load(ordering: .relaxed) }

    /// Set by the health checker when a threshold is crossed.
    public func setActiveCheck(healthy: Bool) {
        failedActiveCheck.store(!healthy, ordering: .relaxed)
    }

    /// Usable by the load balancer: not ejected and not failing active health checks.
    public var isUsable: Bool { !isEjected && !isFailingActiveCheck }
    public var ejectionCount: Int { ejections.load(ordering: .relaxed) }
}

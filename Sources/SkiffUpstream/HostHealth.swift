import SkiffCore
import Synchronization

/// One host's outlier-detection state, shared by every worker's copy of the host: detection is
/// per cluster across workers, with atomics instead of locks.
public final class HostHealth: Sendable {
    let consecutive5xx = Atomic<Int>(0)
    let consecutiveGatewayFailure = Atomic<Int>(0)
    /// Monotonic nanoseconds until which the host is ejected; 0 when it is not.
    let ejectedUntil = Atomic<UInt64>(0)
    /// Ejections so far: the next ejection lasts `base_ejection_time` × (this + 1).
    let ejections = Atomic<Int>(0)
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

/// How an upstream attempt ended, as outlier detection counts it.
public enum UpstreamOutcome: Sendable {
    /// A response with this status.
    case response(Int)
    /// No response: connect failure, reset or timeout (a gateway failure and a 5xx for
    /// detection, as Envoy counts local-origin failures when they are not split out).
    case noResponse
}

/// Consecutive-failure detection and ejection (`Cluster.outlier_detection`), run on the worker
/// that saw the failure; unejection runs on the control plane every `interval`.
public enum OutlierDetector {
    public enum Ejection: Sendable, Equatable {
        case ejected(consecutive5xx: Bool)
        case overflow
        /// Detected, but `enforcing_*` chose not to eject.
        case notEnforced(consecutive5xx: Bool)
    }

    /// Records an outcome; returns what detection did, if anything.
    public static func record(
        _ outcome: UpstreamOutcome, health: HostHealth, config: OutlierDetectionConfig, hostCount: Int,
        resources: ClusterResources, now: UInt64, random: UInt64
    ) -> Ejection? {
        let isGateway: Bool
        let is5xx: Bool
        switch outcome {
        case .response(let status):
            is5xx = status >= 500
            isGateway = status == 502 || status == 503 || status == 504
        case .noResponse:
            is5xx = true
            isGateway = true
        }
        guard is5xx else {
            health.consecutive5xx.store(0, ordering: .relaxed)
            health.consecutiveGatewayFailure.store(0, ordering: .relaxed)
            return nil
        }
        let fiveXX = health.consecutive5xx.add(1, ordering: .relaxed).newValue
        let gateway = isGateway
            ? health.consecutiveGatewayFailure.add(1, ordering: .relaxed).newValue
            : { health.consecutiveGatewayFailure.store(0, ordering: .relaxed); return 0 }()
        if config.consecutive5xx > 0, fiveXX == config.consecutive5xx {
            return eject(health, reason5xx: true, enforcing: config.enforcingConsecutive5xx, config: config,
                         hostCount: hostCount, resources: resources, now: now, random: random)
        }
        if config.consecutiveGatewayFailure > 0, gateway == config.consecutiveGatewayFailure {
            return eject(health, reason5xx: false, enforcing: config.enforcingConsecutiveGatewayFailure, config: config,
                         hostCount: hostCount, resources: resources, now: now, random: random)
        }
        return nil
    }

    static func eject(
        _ health: HostHealth, reason5xx: Bool, enforcing: Int, config: OutlierDetectionConfig, hostCount: Int,
        resources: ClusterResources, now: UInt64, random: UInt64
    ) -> Ejection? {
        guard !health.isEjected else { return nil }
        guard Int(random % 100) < enforcing else {
            return .notEnforced(consecutive5xx: reason5xx)
        }
        // Exactly max_ejection_percent of the hosts, rounded down (at least one with
        // always_eject_one_host): Envoy's rounding lets one more through (issues 3263, 26877).
        var limit = config.maxEjectionPercent * hostCount / 100
        if config.alwaysEjectOneHost { limit = max(limit, 1) }
        guard resources.tryAcquire(.ejectedHosts, limit: limit) else {
            return .overflow
        }
        let count = health.ejections.add(1, ordering: .relaxed).newValue
        let base = UInt64(max(config.baseEjectionTime.nanoseconds, 0))
        var duration = min(base &* UInt64(count), UInt64(max(config.maxEjectionTime.nanoseconds, 0)))
        let jitter = UInt64(max(config.maxEjectionTimeJitter.nanoseconds, 0))
        if jitter > 0 { duration += random % jitter }
        let (exchanged, _) = health.ejectedUntil.compareExchange(expected: 0, desired: now + max(duration, 1), ordering: .relaxed)
        guard exchanged else {
            resources.release(.ejectedHosts)
            health.ejections.subtract(1, ordering: .relaxed)
            return nil
        }
        health.consecutive5xx.store(0, ordering: .relaxed)
        health.consecutiveGatewayFailure.store(0, ordering: .relaxed)
        return .ejected(consecutive5xx: reason5xx)
    }

    /// The interval tick: hosts whose ejection time passed return. Returns how many did.
    @discardableResult
    public static func sweep(_ hosts: [HostHealth], resources: ClusterResources, now: UInt64) -> Int {
        var returned = 0
        for health in hosts {
            let until = health.ejectedUntil.load(ordering: .relaxed)
            guard until != 0, now >= until else { continue }
            let (exchanged, _) = health.ejectedUntil.compareExchange(expected: until, desired: 0, ordering: .relaxed)
            if exchanged {
                resources.release(.ejectedHosts)
                health.consecutive5xx.store(0, ordering: .relaxed)
                health.consecutiveGatewayFailure.store(0, ordering: .relaxed)
                returned += 1
            }
        }
        return returned
    }
}

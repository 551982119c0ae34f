import SkiffCore
import Synchronization

/// How an upstream attempt ended, as outlier detection counts it.
public enum UpstreamOutcome: Sendable {
    /// A response with this status.
    case response(Int)
    /// No response: connect failure, reset or timeout. A local-origin failure when
    /// `split_external_local_origin_errors` is on; otherwise counted as a gateway error (503),
    /// as Envoy maps local-origin failures when they are not split out.
    case noResponse
}

/// Envoy's outlier detection (`Cluster.outlier_detection`).
///
/// Consecutive-failure detection runs on the worker that saw the failure (`record`); the
/// interval tick (`intervalTick`, on the control plane every `interval`) returns hosts whose
/// ejection is over, lets the ejection multiplier of healthy hosts decay, and runs success-rate
/// and failure-percentage detection over the interval's counts. Every path ejects through
/// `eject`, which applies `enforcing_*` and caps ejections at exactly `max_ejection_percent`.
public enum OutlierDetector {
    /// Why a host was detected; `rawValue` is Envoy's stat suffix.
    public enum Reason: String, Sendable, CaseIterable {
        case consecutive5xx = "consecutive_5xx"
        case consecutiveGatewayFailure = "consecutive_gateway_failure"
        case consecutiveLocalOriginFailure = "consecutive_local_origin_failure"
        case successRate = "success_rate"
        case localOriginSuccessRate = "local_origin_success_rate"
        case failurePercentage = "failure_percentage"
        case localOriginFailurePercentage = "local_origin_failure_percentage"
    }

    public enum Ejection: Sendable, Equatable {
        case ejected(Reason)
        case overflow(Reason)
        /// Detected, but `enforcing_*` chose not to eject.
        case notEnforced(Reason)
    }

    /// Records an outcome; returns what detection did, if anything.
    public static func record(
        _ outcome: UpstreamOutcome, health: HostHealth, config: OutlierDetectionConfig, hostCount: Int,
        resources: ClusterResources, now: UInt64, random: UInt64
    ) -> Ejection? {
        let status: Int
        switch outcome {
        case .response(let code):
            status = code
            if config.splitExternalLocalOriginErrors {
                health.consecutiveLocalOriginFailure.store(0, ordering: .relaxed)
                health.localOriginTotal.add(1, ordering: .relaxed)
                health.localOriginSuccess.add(1, ordering: .relaxed)
            }
        case .noResponse:
            guard !config.splitExternalLocalOriginErrors else {
                health.localOriginTotal.add(1, ordering: .relaxed)
                let failures = health.consecutiveLocalOriginFailure.add(1, ordering: .relaxed).newValue
                guard config.consecutiveLocalOriginFailure > 0, failures == config.consecutiveLocalOriginFailure else { return nil }
                return eject(health, for: .consecutiveLocalOriginFailure, config: config, hostCount: hostCount,
                             resources: resources, now: now, random: random)
            }
            status = 503
        }
        health.externalTotal.add(1, ordering: .relaxed)
        guard status >= 500 else {
            health.externalSuccess.add(1, ordering: .relaxed)
            health.consecutive5xx.store(0, ordering: .relaxed)
            health.consecutiveGatewayFailure.store(0, ordering: .relaxed)
            return nil
        }
        let fiveXX = health.consecutive5xx.add(1, ordering: .relaxed).newValue
        let gateway = status == 502 || status == 503 || status == 504
            ? health.consecutiveGatewayFailure.add(1, ordering: .relaxed).newValue
            : { health.consecutiveGatewayFailure.store(0, ordering: .relaxed); return 0 }()
        if config.consecutive5xx > 0, fiveXX == config.consecutive5xx {
            return eject(health, for: .consecutive5xx, config: config, hostCount: hostCount, resources: resources, now: now, random: random)
        }
        if config.consecutiveGatewayFailure > 0, gateway == config.consecutiveGatewayFailure {
            return eject(health, for: .consecutiveGatewayFailure, config: config, hostCount: hostCount,
                         resources: resources, now: now, random: random)
        }
        return nil
    }

    static func eject(
        _ health: HostHealth, for reason: Reason, config: OutlierDetectionConfig, hostCount: Int,
        resources: ClusterResources, now: UInt64, random: UInt64
    ) -> Ejection? {
        guard !health.isEjected else { return nil }
        guard Int(random % 100) < config.enforcing(reason.rawValue) else {
            return .notEnforced(reason)
        }
        // Exactly max_ejection_percent of the hosts, rounded down (at least one with
        // always_eject_one_host): Envoy's rounding lets one more through (issues 3263, 26877).
        var limit = config.maxEjectionPercent * hostCount / 100
        if config.alwaysEjectOneHost { limit = max(limit, 1) }
        guard resources.tryAcquire(.ejectedHosts, limit: limit) else {
            return .overflow(reason)
        }
        let count = health.ejections.add(1, ordering: .relaxed).newValue
        let base = UInt64(max(config.baseEjectionTime.nanoseconds, 0))
        var duration = min(base &* UInt64(count), UInt64(max(config.maxEjectionTime.nanoseconds, 0)))
        let jitter = UInt64(max(config.maxEjectionTimeJitter.nanoseconds, 0))
        if jitter > 0 { duration += (random >> 8) % jitter }
        let (exchanged, _) = health.ejectedUntil.compareExchange(expected: 0, desired: now + max(duration, 1), ordering: .relaxed)
        guard exchanged else {
            resources.release(.ejectedHosts)
            health.ejections.subtract(1, ordering: .relaxed)
            return nil
        }
        health.consecutive5xx.store(0, ordering: .relaxed)
        health.consecutiveGatewayFailure.store(0, ordering: .relaxed)
        health.consecutiveLocalOriginFailure.store(0, ordering: .relaxed)
        return .ejected(reason)
    }

    /// Returns hosts whose ejection time passed. Returns how many did. With `decay`, a host that
    /// is not ejected loses one from its ejection multiplier (Envoy: a host healthy for a whole
    /// interval backs off its next ejection time).
    @discardableResult
    public static func sweep(_ hosts: [HostHealth], resources: ClusterResources, now: UInt64, decay: Bool = false) -> Int {
        var returned = 0
        for health in hosts {
            let until = health.ejectedUntil.load(ordering: .relaxed)
            if until == 0 {
                if decay, health.ejections.load(ordering: .relaxed) > 0 {
                    health.ejections.subtract(1, ordering: .relaxed)
                }
                continue
            }
            guard now >= until else { continue }
            let (exchanged, _) = health.ejectedUntil.compareExchange(expected: until, desired: 0, ordering: .relaxed)
            if exchanged {
                resources.release(.ejectedHosts)
                health.consecutive5xx.store(0, ordering: .relaxed)
                health.consecutiveGatewayFailure.store(0, ordering: .relaxed)
                health.consecutiveLocalOriginFailure.store(0, ordering: .relaxed)
                returned += 1
            }
        }
        return returned
    }

    /// What one interval tick did.
    public struct Tick: Sendable, Equatable {
        public var returned = 0
        public var ejections: [Ejection] = []
    }

    /// The `interval` tick: returns hosts, decays multipliers, then success-rate and
    /// failure-percentage detection over the counts since the last tick (reset here).
    public static func intervalTick(
        _ hosts: [HostHealth], config: OutlierDetectionConfig, resources: ClusterResources, now: UInt64, random: inout FastRandom
    ) -> Tick {
        var tick = Tick()
        tick.returned = sweep(hosts, resources: resources, now: now, decay: true)
        var external: [(HostHealth, total: Int, success: Int)] = []
        var local: [(HostHealth, total: Int, success: Int)] = []
        for health in hosts {
            external.append((health, health.externalTotal.exchange(0, ordering: .relaxed), health.externalSuccess.exchange(0, ordering: .relaxed)))
            local.append((health, health.localOriginTotal.exchange(0, ordering: .relaxed), health.localOriginSuccess.exchange(0, ordering: .relaxed)))
        }
        tick.ejections += rateEjections(external, local: false, config: config, resources: resources, now: now, random: &random)
        if config.splitExternalLocalOriginErrors {
            tick.ejections += rateEjections(local, local: true, config: config, resources: resources, now: now, random: &random)
        }
        return tick
    }

    /// Success-rate ejection (below mean − `stdev_factor`/1000 × stdev among hosts with
    /// `success_rate_request_volume`, when at least `success_rate_minimum_hosts` have it) and
    /// failure-percentage ejection (at or above `failure_percentage_threshold`). Ejected hosts
    /// are left out, as in Envoy.
    static func rateEjections(
        _ counts: [(HostHealth, total: Int, success: Int)], local: Bool, config: OutlierDetectionConfig,
        resources: ClusterResources, now: UInt64, random: inout FastRandom
    ) -> [Ejection] {
        let candidates = counts.filter { !$0.0.isEjected && $0.total > 0 }
            .map { (health: $0.0, total: $0.total, rate: 100 * Double($0.success) / Double($0.total)) }
        var out: [Ejection] = []
        let bySuccessRate = candidates.filter { $0.total >= config.successRateRequestVolume }
        if !bySuccessRate.isEmpty, bySuccessRate.count >= config.successRateMinimumHosts {
            let threshold = successRateThreshold(bySuccessRate.map(\.rate), stdevFactor: Double(config.successRateStdevFactor) / 1000)
            for host in bySuccessRate where host.rate < threshold {
                if let ejection = eject(host.health, for: local ? .localOriginSuccessRate : .successRate, config: config,
                                        hostCount: counts.count, resources: resources, now: now, random: random.next()) {
                    out.append(ejection)
                }
            }
        }
        let byFailurePercentage = candidates.filter { $0.total >= config.failurePercentageRequestVolume }
        if !byFailurePercentage.isEmpty, byFailurePercentage.count >= config.failurePercentageMinimumHosts {
            for host in byFailurePercentage where 100 - host.rate >= Double(config.failurePercentageThreshold) {
                if let ejection = eject(host.health, for: local ? .localOriginFailurePercentage : .failurePercentage, config: config,
                                        hostCount: counts.count, resources: resources, now: now, random: random.next()) {
                    out.append(ejection)
                }
            }
        }
        return out
    }

    /// mean − factor × (population) standard deviation, as Envoy computes it.
    static func successRateThreshold(_ rates: [Double], stdevFactor: Double) -> Double {
        let mean = rates.reduce(0, +) / Double(rates.count)
        let variance = rates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rates.count)
        return mean - stdevFactor * variance.squareRoot()
    }
}

import NIOCore
import SkiffCore
import SkiffTelemetry
import SkiffUpstream

/// Active health checking for every cluster that has `health_checks`, on the control plane.
///
/// Each `interval` (plus up to `interval_jitter`) every host is probed; `unhealthy_threshold`
/// failures in a row mark it unhealthy, `healthy_threshold` successes in a row healthy again,
/// and a new host passes on its first success (Envoy's pending state). The verdict goes into the
/// host's shared `HostHealth`, which every worker's load balancer reads.
struct HealthChecker {
    let server: SkiffServer

    struct Streak {
        var successes = 0
        var failures = 0
        var checked = false
    }

    func run() async {
        var nextTick: [String: UInt64] = [:]
        var streaks: [String: [SocketAddress: Streak]] = [:]
        var random = FastRandom()
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
            let now = ContinuousClockReading.now()
            let due = server.state.withLock { state in
                state.clusterConfigs.compactMap { name, config -> (String, HealthCheckConfig, [SocketAddress: HostHealth])? in
                    guard let check = config.healthCheck else { return nil }
                    return (name, check, state.hostHealth[name] ?? [:])
                }
            }
            for (name, check, hosts) in due where now >= nextTick[name] ?? 0 {
                let jitter = check.intervalJitter.nanoseconds > 0 ? random.next() % UInt64(check.intervalJitter.nanoseconds) : 0
                nextTick[name] = now + UInt64(check.interval.nanoseconds) + jitter
                let results = await probeAll(check, cluster: name, hosts: Array(hosts.keys))
                var clusterStreaks = streaks[name] ?? [:]
                var counts = (attempt: 0, success: 0, failure: 0, network: 0)
                for (address, result) in results {
                    guard let health = hosts[address] else { continue }
                    counts.attempt += 1
                    var streak = clusterStreaks[address] ?? Streak()
                    if result == .healthy {
                        counts.success += 1
                        streak.successes += 1
                        streak.failures = 0
                        if health.isFailingActiveCheck, !streak.checked || streak.successes >= check.healthyThreshold {
                            health.setActiveCheck(healthy: true)
                            server.options.logger.info("cluster \(name): \(address) healthy")
                        }
                    } else {
                        counts.failure += 1
                        if result == .networkFailure { counts.network += 1 }
                        streak.failures += 1
                        streak.successes = 0
                        if !health.isFailingActiveCheck, streak.failures >= check.unhealthyThreshold {
                            health.setActiveCheck(healthy: false)
                            server.options.logger.info("cluster \(name): \(address) unhealthy after \(streak.failures) failed checks")
                        }
                    }
                    streak.checked = true
                    clusterStreaks[address] = streak
                }
                streaks[name] = clusterStreaks.filter { hosts[$0.key] != nil }
                let final = counts
                server.state.withLock { state in
                    var stats = state.healthCheckStats[name] ?? HealthCheckStats()
                    stats.attempt += Int64(final.attempt)
                    stats.success += Int64(final.success)
                    stats.failure += Int64(final.failure)
                    stats.networkFailure += Int64(final.network)
                    state.healthCheckStats[name] = stats
                }
            }
        }
    }

    private func probeAll(_ check: HealthCheckConfig, cluster: String, hosts: [SocketAddress]) async -> [(SocketAddress, HealthProbe.Result)] {
        let group = server.group
        return await withTaskGroup(of: (SocketAddress, HealthProbe.Result).self) { tasks in
            for address in hosts {
                tasks.addTask { (address, await HealthProbe.run(check, address: address, cluster: cluster, group: group)) }
            }
            var out: [(SocketAddress, HealthProbe.Result)] = []
            for await result in tasks { out.append(result) }
            return out
        }
    }
}

/// `cluster.<name>.health_check.*` counters.
struct HealthCheckStats: Sendable {
    var attempt: Int64 = 0
    var success: Int64 = 0
    var failure: Int64 = 0
    var networkFailure: Int64 = 0
}

import NIOCore
import SkiffCore
import SkiffTelemetry
import SkiffUpstream

/// Active health checking for every cluster that has `health_checks`, on the control plane.
///
/// Each host has its own schedule (`HealthCheckConfig.nextDelay`: `no_traffic_interval` until the
/// cluster carried traffic, then `interval` / `unhealthy_interval` and the edge intervals after a
/// change, plus jitter); the first check runs at once (after up to `initial_jitter`).
/// `unhealthy_threshold` failures in a row mark a host unhealthy, `healthy_threshold` successes in
/// a row healthy again, and a new host passes on its first success (Envoy's pending state). The
/// verdict goes into the host's shared `HostHealth`, which every worker's load balancer reads.
struct HealthChecker {
    let server: SkiffServer

    struct Streak {
        var successes = 0
        var failures = 0
        var checked = false
        var nextCheck: UInt64 = 0
    }

    func run() async {
        var streaks: [String: [SocketAddress: Streak]] = [:]
        var random = FastRandom()
        var wake: UInt64 = 0
        while !Task.isCancelled {
            await server.healthCheckDoorbell.wait(for: SkiffServer.backgroundSleep(until: wake))
            let now = ContinuousClockReading.now()
            wake = now + SkiffServer.longestBackgroundSleep
            let clusters = server.state.withLock { state in
                state.clusterConfigs.compactMap { name, config -> (String, HealthCheckConfig, [SocketAddress: HostHealth], Bool)? in
                    guard let check = config.healthCheck else { return nil }
                    return (name, check, state.hostHealth[name] ?? [:], state.clusterResources[name]?.hadTraffic ?? false)
                }
            }
            for (name, check, hosts, hadTraffic) in clusters {
                var clusterStreaks = streaks[name] ?? [:]
                var due: [SocketAddress] = []
                for address in hosts.keys {
                    if clusterStreaks[address] == nil {
                        var fresh = Streak()
                        let initial = check.initialJitter.nanoseconds
                        fresh.nextCheck = now + (initial > 0 ? random.next() % UInt64(initial) : 0)
                        clusterStreaks[address] = fresh
                    }
                    if now >= clusterStreaks[address]!.nextCheck { due.append(address) }
                }
                let results = due.isEmpty ? [] : await probeAll(check, cluster: name, hosts: due)
                var counts = (attempt: 0, success: 0, failure: 0, network: 0)
                for (address, result) in results {
                    guard let health = hosts[address], var streak = clusterStreaks[address] else { continue }
                    counts.attempt += 1
                    let wasHealthy = !health.isFailingActiveCheck
                    if result == .healthy {
                        counts.success += 1
                        streak.successes += 1
                        streak.failures = 0
                        if !wasHealthy, !streak.checked || streak.successes >= check.healthyThreshold {
                            health.setActiveCheck(healthy: true)
                            server.options.logger.info("cluster \(name): \(address) healthy")
                        }
                    } else {
                        counts.failure += 1
                        if result == .networkFailure { counts.network += 1 }
                        streak.failures += 1
                        streak.successes = 0
                        if wasHealthy, streak.failures >= check.unhealthyThreshold {
                            health.setActiveCheck(healthy: false)
                            server.options.logger.info("cluster \(name): \(address) unhealthy after \(streak.failures) failed checks")
                        }
                    }
                    streak.checked = true
                    let healthy = !health.isFailingActiveCheck
                    let delay = check.nextDelay(hadTraffic: hadTraffic, healthy: healthy, justChanged: healthy != wasHealthy, random: random.next())
                    streak.nextCheck = ContinuousClockReading.now() + UInt64(delay.nanoseconds)
                    clusterStreaks[address] = streak
                }
                streaks[name] = clusterStreaks.filter { hosts[$0.key] != nil }
                for streak in streaks[name]!.values { wake = min(wake, streak.nextCheck) }
                guard counts.attempt > 0 else { continue }
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

import NIOCore
import SkiffCore
import SkiffTelemetry

/// One cluster on one worker: its config, current hosts, load balancer and per-host pools.
public final class UpstreamCluster {
    public private(set) var config: ClusterConfig
    public private(set) var hosts: [UpstreamHost] = []
    public let stats: StatsScope
    let eventLoop: any EventLoop
    /// Circuit-breaker counts, shared with this cluster on every other worker.
    public let resources: ClusterResources
    private var balancer: LoadBalancer
    private var weights: [Int] = []
    private var pools: [ObjectIdentifier: HTTP1ConnectionPool] = [:]

    init(config: ClusterConfig, eventLoop: any EventLoop, stats: StatsScope, seed: UInt64, resources: ClusterResources) {
        self.resources = resources
        self.config = config
        self.eventLoop = eventLoop
        self.stats = stats
        self.balancer = LoadBalancer(policy: config.lbPolicy, seed: seed)
    }

    /// Chooses a host for a new request or connection, or nil if the cluster has none. Hosts
    /// ejected by outlier detection are skipped unless too few are left (the healthy panic
    /// threshold), in which case every host is used and `lb_healthy_panic` counts it.
    public func pickHost(random: inout FastRandom) -> UpstreamHost? {
        if (config.outlierDetection != nil && resources.inUse(.ejectedHosts) > 0) || config.healthCheck != nil {
            // Two passes over the hosts, no allocation on the request path.
            var usableCount = 0
            var total = 0
            for (index, host) in hosts.enumerated() where host.health.isUsable {
                usableCount += 1
                total += weights[index]
            }
            if usableCount * 100 < config.healthyPanicThreshold * hosts.count || total == 0 {
                stats.increment(ClusterStat.lbHealthyPanic)
            } else {
                var draw = Int(random.next() % UInt64(total))
                for (index, host) in hosts.enumerated() where host.health.isUsable {
                    draw -= weights[index]
                    if draw < 0 { return host }
                }
            }
        }
        guard let index = balancer.pick(weights: weights, active: { self.hosts[$0].activeRequests }, random: &random) else {
            stats.increment(ClusterStat.cxNoneHealthy)
            return nil
        }
        return hosts[index]
    }

    /// The HTTP/1.1 pool to `host` on this worker.
    public func http1Pool(for host: UpstreamHost) -> HTTP1ConnectionPool {
        let key = ObjectIdentifier(host)
        if let pool = pools[key] {
            return pool
        }
        let pool = HTTP1ConnectionPool(host: host, cluster: self)
        pools[key] = pool
        return pool
    }

    /// Replaces the config and host set, keeping host objects (and their pools) whose address stays.
    func update(config: ClusterConfig, resolved: [ResolvedEndpoint], health: [SocketAddress: HostHealth] = [:]) {
        if config.lbPolicy != self.config.lbPolicy {
            balancer = LoadBalancer(policy: config.lbPolicy)
        }
        self.config = config
        var existing: [SocketAddress: UpstreamHost] = [:]
        for host in hosts {
            existing[host.address] = host
        }
        var next: [UpstreamHost] = []
        for endpoint in resolved {
            if let host = existing.removeValue(forKey: endpoint.address) {
                host.weight = endpoint.weight
                if let shared = health[endpoint.address] { host.health = shared }
                next.append(host)
            } else {
                next.append(UpstreamHost(address: endpoint.address, weight: endpoint.weight, health: health[endpoint.address] ?? HostHealth()))
            }
        }
        // Hosts that left: their idle connections close; in-flight requests finish on their own.
        for gone in existing.values {
            pools.removeValue(forKey: ObjectIdentifier(gone))?.drainIdle()
        }
        hosts = next
        weights = next.map(\.weight)
        balancer.reset()
    }

    /// Reports how an attempt on `host` ended to outlier detection (a no-op without it).
    public func recordOutcome(_ outcome: UpstreamOutcome, host: UpstreamHost, random: UInt64) {
        guard let detection = config.outlierDetection else { return }
        let result = OutlierDetector.record(
            outcome, health: host.health, config: detection, hostCount: hosts.count, resources: resources,
            now: ContinuousClockReading.now(), random: random
        )
        switch result {
        case .ejected(let fiveXX):
            stats.increment(ClusterStat.odEnforcedTotal)
            stats.increment(fiveXX ? ClusterStat.odEnforced5xx : ClusterStat.odEnforcedGateway)
            stats.increment(fiveXX ? ClusterStat.odDetected5xx : ClusterStat.odDetectedGateway)
        case .notEnforced(let fiveXX):
            stats.increment(fiveXX ? ClusterStat.odDetected5xx : ClusterStat.odDetectedGateway)
        case .overflow:
            stats.increment(ClusterStat.odOverflow)
        case nil:
            break
        }
    }

    /// Closes every idle pooled connection (cluster removed or worker stopping).
    func shutdown() {
        for pool in pools.values {
            pool.drainIdle()
        }
        pools = [:]
    }
}

@available(*, unavailable)
extension UpstreamCluster: Sendable {}

/// An endpoint with its address resolved.
public struct ResolvedEndpoint: Sendable, Hashable {
    public var address: SocketAddress
    public var weight: Int

    public init(address: SocketAddress, weight: Int) {
        self.address = address
        self.weight = weight
    }
}

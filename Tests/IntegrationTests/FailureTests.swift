import NIOCore
import NIOPosix
import Testing

/// What clients see when things go wrong: Envoy's status codes, and a proxy that keeps serving.
@Suite(.serialized)
struct FailureTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A port that nothing listens on (bound, then closed).
    func deadPort() async throws -> Int {
        let upstream = try await TestUpstream.start("dead", group: group)
        let port = upstream.port
        await upstream.close()
        return port
    }

    @Test func deadUpstreamIs503UF() async throws {
        let port = try await deadPort()
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: dead }
            """,
            clusters: [Bootstrap.cluster("dead", ports: [port])]
        ))
        let client = try await proxy.client()
        let response = try await client.get("/")
        #expect(response.status == 503)
        // Envoy 1.40's body, exactly (checked against it; the reason goes to the access log).
        #expect(response.body == "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure")
        let again = try await client.get("/")
        #expect(again.status == 503, "the downstream connection stays usable")
        let stats = try await proxy.admin("/stats")
        #expect(stats.body.contains("cluster.dead.upstream_cx_connect_fail: 2"))
        #expect(stats.body.contains("cluster.dead.upstream_rq_503: 2"))
        await client.close()
        await proxy.stop()
    }

    @Test func clusterWithNoHostsIs503UH() async throws {
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: empty }
            """,
            clusters: [Bootstrap.cluster("empty", ports: [])]
        ))
        let client = try await proxy.client()
        let response = try await client.get("/")
        #expect(response.status == 503)
        #expect(response.body == "no healthy upstream")
        await client.close()
        await proxy.stop()
    }

    @Test func upstreamResetBeforeHeadersIs503UC() async throws {
        let a = try await TestUpstream.start("a", behavior: .reset, group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: a }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port])]
        ))
        let client = try await proxy.client()
        let response = try await client.get("/")
        #expect(response.status == 503)
        #expect(response.body.contains("reset reason: connection termination"))
        await client.close()
        await proxy.stop()
        await a.close()
    }

    @Test func routeTimeoutIs504() async throws {
        let slow = try await TestUpstream.start("slow", behavior: .delay(.seconds(3)), group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: slow, timeout: 0.2s }
            """,
            clusters: [Bootstrap.cluster("slow", ports: [slow.port])]
        ))
        let client = try await proxy.client()
        let start = ContinuousClock.now
        let response = try await client.get("/")
        let elapsed = ContinuousClock.now - start
        #expect(response.status == 504)
        #expect(response.body == "upstream request timeout")
        #expect(elapsed < .seconds(2))
        let stats = try await proxy.admin("/stats")
        #expect(stats.body.contains("cluster.slow.upstream_rq_timeout: 1"))
        await client.close()
        await proxy.stop()
        await slow.close()
    }

    /// Envoy answers 504 when the whole request was received (the wait is on the upstream) and
    /// 408 when it was not (`ResilienceEnvoyComparisonTests` checks both against Envoy).
    @Test func streamIdleTimeoutAfterACompleteRequestIs504() async throws {
        let slow = try await TestUpstream.start("slow", behavior: .delay(.seconds(3)), group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: slow, timeout: 0s }
            """,
            clusters: [Bootstrap.cluster("slow", ports: [slow.port])],
            hcmExtra: "stream_idle_timeout: 0.3s"
        ))
        let client = try await proxy.client()
        let start = ContinuousClock.now
        let response = try await client.get("/")
        #expect(response.status == 504)
        #expect(response.body == "stream timeout")
        #expect(ContinuousClock.now - start < .seconds(2))
        let stats = try await proxy.admin("/stats")
        #expect(stats.body.contains("http.ingress.downstream_rq_idle_timeout: 1"))
        await client.close()
        await proxy.stop()
        await slow.close()
    }

    @Test func requestHeadersTimeoutClosesButIdleKeepAliveDoesNot() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: a }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port])],
            hcmExtra: "request_headers_timeout: 0.3s"
        ))
        // An idle keep-alive connection is not subject to the headers timeout...
        let idle = try await proxy.client()
        #expect(try await idle.get("/").status == 200)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await idle.get("/").status == 200)
        // ...but a head that starts and never finishes is: the connection closes.
        let slowloris = try await proxy.client()
        try await slowloris.send("GET / HTTP/1.1\r\nhost: x\r\n")
        let start = ContinuousClock.now
        #expect(try await slowloris.waitForClose())
        #expect(ContinuousClock.now - start < .seconds(2))
        let stats = try await proxy.admin("/stats")
        #expect(stats.body.contains("http.ingress.downstream_rq_header_timeout: 1"))
        await idle.close()
        await slowloris.close()
        await proxy.stop()
        await a.close()
    }

    @Test func malformedRequestsGet4xxAndTheProxyKeepsServing() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: a }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port])]
        ))
        // Content-Length together with Transfer-Encoding: 400, connection closed.
        let smuggler = try await proxy.client()
        try await smuggler.send("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
        let smuggled = try await smuggler.readResponse()
        #expect(smuggled.status == 400)
        #expect(try await smuggler.waitForClose())

        // Headers over the 60 KiB default: 431, connection closed.
        let big = try await proxy.client()
        let filler = String(repeating: "a", count: 8000)
        var request = "GET / HTTP/1.1\r\nhost: x\r\n"
        for i in 0..<9 { request += "x-filler-\(i): \(filler)\r\n" }
        try await big.send(request + "\r\n")
        let tooLarge = try await big.readResponse()
        #expect(tooLarge.status == 431)
        #expect(try await big.waitForClose())

        // Garbage: 400.
        let garbage = try await proxy.client()
        try await garbage.send("THIS IS NOT HTTP\r\n\r\n")
        #expect(try await garbage.readResponse().status == 400)

        // And the proxy still serves.
        let fine = try await proxy.client()
        #expect(try await fine.get("/").status == 200)
        #expect(a.requests.count == 1, "no malformed request reached the upstream")
        for client in [smuggler, big, garbage, fine] { await client.close() }
        await proxy.stop()
        await a.close()
    }

    @Test func slowReaderDoesNotMakeTheProxyBufferWithoutBound() async throws {
        let total = 256 * 1024 * 1024
        let firehose = try await TestUpstream.start("firehose", behavior: .stream(bytes: total), group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: firehose, timeout: 0s }
            """,
            clusters: [Bootstrap.cluster("firehose", ports: [firehose.port])]
        ))
        let client = try await proxy.client()
        try await client.send("GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        // The client reads nothing for a second: only socket buffers and the proxy's 1 MiB
        // per-connection limit may fill; the upstream must be held back far below 256 MiB.
        try await Task.sleep(for: .seconds(1))
        let written = firehose.bytesStreamed
        #expect(written < 48 * 1024 * 1024, "upstream wrote \(written) bytes into a stalled client")
        // Reading resumes the flow and every byte arrives.
        let response = try await client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyBytes == total)
        await client.close()
        await proxy.stop()
        await firehose.close()
    }
}

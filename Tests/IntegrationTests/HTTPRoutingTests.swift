import NIOCore
import NIOPosix
import Testing

/// Routing end to end: real upstreams, real Skiff, real sockets on 127.0.0.1.
@Suite(.serialized)
struct HTTPRoutingTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func weightedSplitNinetyTenOverTwoThousandRequests() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let b = try await TestUpstream.start("b", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route:
                weighted_clusters:
                  clusters:
                  - { name: a, weight: 90 }
                  - { name: b, weight: 10 }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port]), Bootstrap.cluster("b", ports: [b.port])]
        ))
        var counts: [String: Int] = [:]
        let port = proxy.port()
        let clientGroup = proxy.group
        try await withThrowingTaskGroup(of: [String: Int].self) { tasks in
            for _ in 0..<4 {
                tasks.addTask { try await Self.countUpstreams(port: port, group: clientGroup, requests: 500) }
            }
            for try await local in tasks {
                counts.merge(local, uniquingKeysWith: +)
            }
        }
        // Binomial(2000, 0.9): mean 1800, sd 13.4; ±5 sd is 67.
        #expect(counts["a", default: 0] + counts["b", default: 0] == 2000)
        #expect(abs(counts["a", default: 0] - 1800) <= 67, "split was \(counts)")
        await proxy.stop()
        await a.close()
        await b.close()
    }

    /// Sends `requests` GETs on one keep-alive connection; counts answers by `x-upstream`.
    static func countUpstreams(port: Int, group: any EventLoopGroup, requests: Int) async throws -> [String: Int] {
        let client = try await RawClient(port: port, group: group)
        var local: [String: Int] = [:]
        for _ in 0..<requests {
            let response = try await client.get("/")
            #expect(response.status == 200)
            local[response.header("x-upstream") ?? "?", default: 0] += 1
        }
        await client.close()
        return local
    }

    @Test func zeroWeightSideGetsNothing() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let b = try await TestUpstream.start("b", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route:
                weighted_clusters:
                  clusters:
                  - { name: a, weight: 100 }
                  - { name: b, weight: 0 }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port]), Bootstrap.cluster("b", ports: [b.port])]
        ))
        let client = try await proxy.client()
        for i in 0..<300 {
            let response: RawClient.Response
            do {
                response = try await client.get("/")
            } catch {
                let stats = try await proxy.admin("/stats")
                Issue.record("request \(i) failed: \(error); upstream saw \(a.requests.count); stats:\n\(stats.body)")
                break
            }
            #expect(response.header("x-upstream") == "a")
        }
        #expect(b.requests.isEmpty)
        #expect(b.connections == 0)
        await client.close()
        await proxy.stop()
        await a.close()
        await b.close()
    }

    @Test func headerRegexRoutesMobileUserAgents() async throws {
        let mobile = try await TestUpstream.start("mobile", group: group)
        let desktop = try await TestUpstream.start("desktop", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match:
                prefix: "/"
                headers:
                - name: user-agent
                  string_match: { safe_regex: { regex: ".*Mobile.*" } }
              route: { cluster: mobile }
            - match: { prefix: "/" }
              route: { cluster: desktop }
            """,
            clusters: [Bootstrap.cluster("mobile", ports: [mobile.port]), Bootstrap.cluster("desktop", ports: [desktop.port])]
        ))
        let client = try await proxy.client()
        let phone = try await client.get("/", headers: [("user-agent", "Mozilla/5.0 (iPhone) Mobile/15E148 Safari")])
        #expect(phone.header("x-upstream") == "mobile")
        let laptop = try await client.get("/", headers: [("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")])
        #expect(laptop.header("x-upstream") == "desktop")
        let none = try await client.get("/")
        #expect(none.header("x-upstream") == "desktop")
        await client.close()
        await proxy.stop()
        await mobile.close()
        await desktop.close()
    }

    @Test func noRouteIs404AndCounted() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/api" }
              route: { cluster: a }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port])]
        ))
        let client = try await proxy.client()
        let miss = try await client.get("/other")
        #expect(miss.status == 404)
        #expect(miss.header("server") == "envoy")
        let hit = try await client.get("/api/x")
        #expect(hit.status == 200)
        let stats = try await proxy.admin("/stats")
        #expect(stats.body.contains("http.ingress.no_route: 1"))
        await client.close()
        await proxy.stop()
        await a.close()
    }

    @Test func directResponseAndPrefixRewriteAndHeaders() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { path: "/healthz" }
              direct_response: { status: 200, body: { inline_string: "ok" } }
            - match: { prefix: "/v1/" }
              route: { cluster: a, prefix_rewrite: "/internal/" }
              request_headers_to_add:
              - header: { key: x-route, value: v1 }
              response_headers_to_add:
              - header: { key: x-served-by, value: skiff-test }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port])]
        ))
        let client = try await proxy.client()
        let health = try await client.get("/healthz")
        #expect(health.status == 200)
        #expect(health.body == "ok")
        let proxied = try await client.get("/v1/users?id=7", headers: [("connection", "keep-alive, x-secret"), ("x-secret", "s")])
        #expect(proxied.status == 200)
        #expect(proxied.header("x-served-by") == "skiff-test")
        #expect(proxied.header("x-envoy-upstream-service-time") != nil)
        #expect(proxied.header("date") != nil)
        let seen = try #require(a.requests.last)
        #expect(seen.uri == "/internal/users?id=7")
        #expect(seen.headers["x-route"] == ["v1"])
        #expect(seen.headers["x-forwarded-proto"] == ["http"])
        #expect(seen.headers["x-request-id"].first?.count == 36)
        #expect(seen.headers["x-envoy-expected-rq-timeout-ms"] == ["15000"])
        #expect(seen.headers["x-secret"].isEmpty, "headers nominated by Connection are hop-by-hop")
        #expect(seen.headers["connection"].isEmpty)
        await client.close()
        await proxy.stop()
        await a.close()
    }

    @Test func requestBodiesStreamWithContentLengthAndChunkedAndHeadWorks() async throws {
        let echo = try await TestUpstream.start("echo", behavior: .echo, group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: echo }
            """,
            clusters: [Bootstrap.cluster("echo", ports: [echo.port])]
        ))
        let client = try await proxy.client()
        let body = String(repeating: "0123456789", count: 30_000)
        try await client.send("POST /cl HTTP/1.1\r\nhost: x\r\ncontent-length: \(body.utf8.count)\r\n\r\n" + body)
        let sized = try await client.readResponse()
        #expect(sized.status == 200)
        #expect(sized.bodyBytes == body.utf8.count)
        #expect(sized.body == body)

        try await client.send("POST /chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        let chunked = try await client.readResponse()
        #expect(chunked.body == "hello world")
        #expect(echo.requests.last?.headers["transfer-encoding"] == ["chunked"])

        try await client.send("HEAD /head HTTP/1.1\r\nhost: x\r\n\r\n")
        let head = try await client.readResponse(headRequest: true)
        #expect(head.status == 200)
        // The connection is still in sync after HEAD.
        #expect(try await client.get("/after").status == 200)
        await client.close()
        await proxy.stop()
        await echo.close()
    }

    @Test func upstreamConnectionsAreReusedAndRetiredAfterMaxRequests() async throws {
        let a = try await TestUpstream.start("a", group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
            - match: { prefix: "/" }
              route: { cluster: a }
            """,
            clusters: [Bootstrap.cluster("a", ports: [a.port], extra: "max_requests_per_connection: 10")]
        ), concurrency: 1)
        let client = try await proxy.client()
        for _ in 0..<50 {
            #expect(try await client.get("/").status == 200)
        }
        #expect(a.requests.count == 50)
        #expect(a.connections == 5, "50 sequential requests at 10 per connection")
        await client.close()
        await proxy.stop()
        await a.close()
    }
}

import NIOCore
import NIOPosix
import Testing

/// `envoy.filters.http.local_ratelimit`: a token bucket shared by the workers, per route, and per
/// descriptor built from request headers.
@Suite(.serialized)
struct LocalRateLimitTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static let type = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"

    static func bootstrap(port: Int, filter: String, routes: String? = nil) -> String {
        Bootstrap.http(
            routes: routes ?? """
                - match: { prefix: "/" }
                  route: { cluster: backend }
                """,
            clusters: [Bootstrap.cluster("backend", ports: [port])],
            filters: """
                - name: envoy.filters.http.local_ratelimit
                  typed_config:
                    "@type": \(type)
                \(Bootstrap.indented(filter, 4))
                """
        )
    }

    static let enabled = """
        filter_enabled: { default_value: { numerator: 100 } }
        filter_enforced: { default_value: { numerator: 100 } }
        """

    /// A generous default bucket and one token a minute for `api_key=abc`.
    static let oneTokenForKeyABC = """
        stat_prefix: keys
        token_bucket: { max_tokens: 1000, fill_interval: 1s }
        descriptors:
        - entries: [{ key: api_key, value: abc }]
          token_bucket: { max_tokens: 1, fill_interval: 60s }
        """

    @Test func theBucketLimitsAndRefills() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, filter: """
            stat_prefix: edge
            token_bucket: { max_tokens: 3, tokens_per_fill: 3, fill_interval: 1s }
            enable_x_ratelimit_headers: DRAFT_VERSION_03
            response_headers_to_add:
            - header: { key: x-limited-by, value: skiff }
            \(Self.enabled)
            """))
        let client = try await proxy.client()
        var statuses: [Int] = []
        var limited: RawClient.Response?
        for _ in 0..<5 {
            let response = try await client.get("/")
            statuses.append(response.status)
            if response.status == 429 { limited = response }
        }
        #expect(statuses == [200, 200, 200, 429, 429])
        #expect(limited?.body == "local_rate_limited")
        #expect(limited?.header("x-limited-by") == "skiff")
        #expect(limited?.header("x-ratelimit-limit") == "3")
        #expect(limited?.header("x-ratelimit-remaining") == "0")
        try await Task.sleep(for: .milliseconds(1_100))
        let refilled = try await client.get("/")
        #expect(refilled.status == 200)
        #expect(refilled.header("x-ratelimit-limit") == "3")
        #expect(refilled.header("x-limited-by") == nil, "response_headers_to_add is for limited responses")
        #expect(try await XDSTestsStat.value(proxy, "edge.http_local_rate_limit.rate_limited") == 2)
        #expect(try await XDSTestsStat.value(proxy, "edge.http_local_rate_limit.ok") == 4)
        #expect(try await proxy.admin("/stats/prometheus").body.contains(
            "envoy_http_local_rate_limit_rate_limited{envoy_local_http_ratelimit_prefix=\"edge\"} 2"))
        await client.close()
        await proxy.stop()
    }

    @Test func descriptorsFromAHeaderLimitEachKeySeparately() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, filter: """
            \(Self.oneTokenForKeyABC)
            rate_limits:
            - actions:
              - request_headers: { header_name: x-api-key, descriptor_key: api_key }
            \(Self.enabled)
            """))
        let client = try await proxy.client()
        #expect(try await client.get("/", headers: [("x-api-key", "abc")]).status == 200)
        #expect(try await client.get("/", headers: [("x-api-key", "abc")]).status == 429)
        #expect(try await client.get("/", headers: [("x-api-key", "other")]).status == 200)
        #expect(try await client.get("/").status == 200)
        await client.close()
        await proxy.stop()
    }

    @Test func perRouteConfigWithAnEmptyFilterAsIstioWritesIt() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let routes = """
            - match: { prefix: "/limited" }
              route: { cluster: backend }
              typed_per_filter_config:
                envoy.filters.http.local_ratelimit:
                  "@type": \(Self.type)
                  stat_prefix: route
                  token_bucket: { max_tokens: 1, fill_interval: 60s }
            \(Bootstrap.indented(Self.enabled, 6))
            - match: { prefix: "/" }
              route: { cluster: backend }
            """
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, filter: "stat_prefix: http_local_rate_limiter", routes: routes))
        let client = try await proxy.client()
        #expect(try await client.get("/limited").status == 200)
        #expect(try await client.get("/limited").status == 429)
        for _ in 0..<5 { #expect(try await client.get("/free").status == 200) }
        await client.close()
        await proxy.stop()
    }

    /// Without `rate_limits` of its own the filter takes the route's (`RouteAction.rate_limits`),
    /// so only that route builds the per-key descriptor.
    @Test func routeRateLimitsBuildTheDescriptors() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let routes = """
            - match: { prefix: "/keyed" }
              route:
                cluster: backend
                rate_limits:
                - actions:
                  - request_headers: { header_name: x-api-key, descriptor_key: api_key }
            - match: { prefix: "/" }
              route: { cluster: backend }
            """
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, filter: """
            \(Self.oneTokenForKeyABC)
            \(Self.enabled)
            """, routes: routes))
        let client = try await proxy.client()
        #expect(try await client.get("/keyed", headers: [("x-api-key", "abc")]).status == 200)
        #expect(try await client.get("/keyed", headers: [("x-api-key", "abc")]).status == 429)
        #expect(try await client.get("/other", headers: [("x-api-key", "abc")]).status == 200)
        await client.close()
        await proxy.stop()
    }
}

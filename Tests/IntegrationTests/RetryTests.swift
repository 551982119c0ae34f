import NIOCore
import NIOPosix
import Testing

/// Retries against misbehaving upstreams, with the policies Istio users write (`attempts: 3`,
/// `perTryTimeout`, `retryOn: gateway-error,connect-failure,refused-stream`), times scaled down.
@Suite(.serialized)
struct RetryTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static let istioRetryOn = "gateway-error,connect-failure,refused-stream"

    /// A route to `backend` with `retry_policy` (flush-left YAML under `retry_policy:`).
    static func bootstrap(policy: String, hosts: [Int], extraCluster: String = "") -> String {
        Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route:
                    cluster: backend
                    timeout: 5s
                    retry_policy:
                \(Bootstrap.indented(policy, 6))
                """,
            clusters: [Bootstrap.cluster("backend", ports: hosts, extra: extraCluster)]
        )
    }

    func stat(_ proxy: ProxyHarness, _ name: String) async throws -> Int {
        try await XDSTestsStat.value(proxy, name) ?? -1
    }

    @Test func a503IsRetriedButA500IsNot() async throws {
        let flaky503 = try await TestUpstream.start("a", behavior: .failFirst(1, status: 503), group: group)
        defer { Task { await flaky503.close() } }
        var proxy = try await ProxyHarness.start(Self.bootstrap(policy: "retry_on: \(Self.istioRetryOn)\nnum_retries: 2", hosts: [flaky503.port]))
        var client = try await proxy.client()
        var response = try await client.get("/")
        #expect(response.status == 200)
        #expect(response.body == "hello from a\n")
        #expect(flaky503.requests.count == 2)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry") == 1)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry_success") == 1)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_503") == 1)
        await client.close()
        await proxy.stop()

        let flaky500 = try await TestUpstream.start("b", behavior: .failFirst(1, status: 500), group: group)
        defer { Task { await flaky500.close() } }
        proxy = try await ProxyHarness.start(Self.bootstrap(policy: "retry_on: \(Self.istioRetryOn)\nnum_retries: 2", hosts: [flaky500.port]))
        client = try await proxy.client()
        response = try await client.get("/")
        #expect(response.status == 500)
        #expect(flaky500.requests.count == 1)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry") == 0)
        await client.close()
        await proxy.stop()
    }

    /// `per_try_timeout` (from the end of the request) and `per_try_idle_timeout` (no upstream
    /// bytes) both abandon a hung first attempt and retry it.
    @Test(arguments: [
        ("per_try_timeout", "upstream_rq_per_try_timeout"), ("per_try_idle_timeout", "upstream_rq_per_try_idle_timeout"),
    ])
    func aHungFirstAttemptIsRetriedAfterThePerTryTimer(field: String, counter: String) async throws {
        let hung = try await TestUpstream.start("a", behavior: .hangFirst(1), group: group)
        defer { Task { await hung.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(
            policy: "retry_on: \(Self.istioRetryOn)\nnum_retries: 2\n\(field): 0.2s", hosts: [hung.port]
        ))
        let client = try await proxy.client()
        let started = ContinuousClock.now
        let response = try await client.get("/")
        let elapsed = ContinuousClock.now - started
        #expect(response.status == 200)
        #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(2), "\(elapsed)")
        #expect(try await stat(proxy, "cluster.backend." + counter) == 1)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry") == 1)
        await client.close()
        await proxy.stop()
    }

    @Test func thePerTryTimeoutWithoutRetriesLeftAnswers504() async throws {
        let hung = try await TestUpstream.start("a", behavior: .hangFirst(10), group: group)
        defer { Task { await hung.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(
            policy: "retry_on: \(Self.istioRetryOn)\nnum_retries: 1\nper_try_timeout: 0.1s", hosts: [hung.port]
        ))
        let client = try await proxy.client()
        let response = try await client.get("/")
        #expect(response.status == 504)
        #expect(hung.requests.count == 2)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry_limit_exceeded") == 1)
        await client.close()
        await proxy.stop()
    }

    @Test func theRetryGoesToAnotherHost() async throws {
        let bad = try await TestUpstream.start("bad", behavior: .failFirst(1_000, status: 503), group: group)
        let good = try await TestUpstream.start("good", group: group)
        defer { Task { await bad.close(); await good.close() } }
        let policy = """
            retry_on: \(Self.istioRetryOn)
            num_retries: 1
            retry_host_predicate:
            - name: envoy.retry_host_predicates.previous_hosts
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
            host_selection_retry_max_attempts: 5
            """
        let proxy = try await ProxyHarness.start(Self.bootstrap(policy: policy, hosts: [bad.port, good.port]))
        let client = try await proxy.client()
        for _ in 0..<20 {
            let response = try await client.get("/")
            #expect(response.status == 200)
            #expect(response.body == "hello from good\n")
        }
        #expect(bad.requests.count >= 5, "round robin sends first attempts to the bad host too")
        await client.close()
        await proxy.stop()
    }

    @Test func connectFailuresAreRetriedOnALiveHost() async throws {
        let good = try await TestUpstream.start("good", group: group)
        defer { Task { await good.close() } }
        let dead = try refusingPort()
        let proxy = try await ProxyHarness.start(Self.bootstrap(policy: "retry_on: connect-failure\nnum_retries: 3", hosts: [dead, good.port]))
        let client = try await proxy.client()
        for _ in 0..<10 {
            #expect(try await client.get("/").status == 200)
        }
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry") >= 3)
        await client.close()
        await proxy.stop()
    }

    @Test func retriesStopAtNumRetries() async throws {
        let broken = try await TestUpstream.start("a", behavior: .failFirst(1_000, status: 503), group: group)
        defer { Task { await broken.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(policy: "retry_on: 5xx\nnum_retries: 2", hosts: [broken.port]))
        let client = try await proxy.client()
        let response = try await client.get("/")
        #expect(response.status == 503)
        #expect(response.body == "failure from a\n", "the last upstream response is forwarded")
        #expect(broken.requests.count == 3)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry") == 2)
        #expect(try await stat(proxy, "cluster.backend.upstream_rq_retry_limit_exceeded") == 1)
        await client.close()
        await proxy.stop()
    }

    @Test func requestHeadersAskForRetriesAndBodiesAreReplayedIntact() async throws {
        let flaky = try await TestUpstream.start("a", behavior: .failFirstThenEcho(1, status: 500), group: group)
        defer { Task { await flaky.close() } }
        // No retry_policy on the route: the request asks with x-envoy-retry-on.
        let yaml = Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: backend }
                """,
            clusters: [Bootstrap.cluster("backend", ports: [flaky.port])]
        )
        let proxy = try await ProxyHarness.start(yaml)
        let client = try await proxy.client()
        let body = String(repeating: "payload-", count: 4096)
        try await client.send(
            "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: \(body.utf8.count)\r\nx-envoy-retry-on: 5xx\r\nx-envoy-max-retries: 1\r\n\r\n\(body)"
        )
        let response = try await client.readResponse()
        #expect(response.status == 200)
        #expect(response.body == body)
        #expect(flaky.requests.count == 2)
        await client.close()
        await proxy.stop()
    }
}

import NIOCore
import NIOPosix
import Testing

/// Circuit breakers with the numbers Istio users write (`maxConnections: 1`,
/// `http1MaxPendingRequests: 1`): overflow is a fast 503 with `x-envoy-overloaded: true` (UO).
@Suite(.serialized)
struct CircuitBreakerTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static func bootstrap(thresholds: String, port: Int, retryPolicy: String? = nil) -> String {
        let retry = retryPolicy.map { "\n    retry_policy:\n" + Bootstrap.indented($0, 6) } ?? ""
        return Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route:
                    cluster: backend\(retry)
                """,
            clusters: [Bootstrap.cluster("backend", ports: [port], extra: """
                circuit_breakers:
                  thresholds:
                  - priority: DEFAULT
                \(Bootstrap.indented(thresholds, 4))
                """)]
        )
    }

    /// Sends `count` requests at once, each on its own connection; statuses and overload headers.
    static func burst(port: Int, count: Int) async throws -> [(status: Int, overloaded: Bool, elapsed: Duration)] {
        try await withThrowingTaskGroup(of: (Int, Bool, Duration).self) { group in
            for _ in 0..<count {
                group.addTask {
                    let client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton)
                    let started = ContinuousClock.now
                    let response = try await client.get("/")
                    let elapsed = ContinuousClock.now - started
                    await client.close()
                    return (response.status, response.header("x-envoy-overloaded") == "true", elapsed)
                }
            }
            var out: [(status: Int, overloaded: Bool, elapsed: Duration)] = []
            for try await result in group {
                out.append((status: result.0, overloaded: result.1, elapsed: result.2))
            }
            return out
        }
    }

    @Test func oneConnectionOnePendingTenConcurrentRequests() async throws {
        let slow = try await TestUpstream.start("slow", behavior: .delay(.milliseconds(300)), group: group)
        defer { Task { await slow.close() } }
        let proxy = try await ProxyHarness.start(
            Self.bootstrap(thresholds: "max_connections: 1\nmax_pending_requests: 1", port: slow.port), concurrency: 1
        )
        // Warm the one connection first: otherwise requests arriving while it is still connecting
        // are already pending and only one gets through (Envoy counts them the same way).
        let warm = try await proxy.client()
        #expect(try await warm.get("/").status == 200)
        await warm.close()
        let results = try await Self.burst(port: proxy.port(), count: 10)
        let ok = results.filter { $0.status == 200 }
        let shed = results.filter { $0.status == 503 }
        #expect(ok.count == 2, "one on the connection, one pending: \(results.map(\.status))")
        #expect(shed.count == 8)
        #expect(shed.allSatisfy { $0.overloaded && $0.elapsed < .milliseconds(250) }, "overflow answers at once")
        #expect(slow.connections == 1)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.upstream_rq_pending_overflow") == 8)
        #expect(slow.requests.count == 3)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.upstream_cx_overflow") ?? 0 >= 1)
        await proxy.stop()
    }

    @Test func maxRequestsShedsTheRest() async throws {
        let slow = try await TestUpstream.start("slow", behavior: .delay(.milliseconds(300)), group: group)
        defer { Task { await slow.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(thresholds: "max_requests: 2\ntrack_remaining: true", port: slow.port))
        let results = try await Self.burst(port: proxy.port(), count: 5)
        #expect(results.filter { $0.status == 200 }.count == 2, "\(results.map(\.status))")
        #expect(results.filter { $0.status == 503 && $0.overloaded }.count == 3)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.circuit_breakers.default.remaining_rq") == 2)
        await proxy.stop()
    }

    /// Request A fails once and its retry runs slowly, holding the one retry allowed; request B,
    /// sent while A's retry is in flight, fails too and gets its 503 back instead of retrying.
    /// `max_retries: 1`, and a retry budget that allows one (0 % of active requests, at least 1)
    /// although `max_retries` would allow 100, behave the same.
    @Test(arguments: [
        "max_retries: 1", "max_retries: 100\nretry_budget: { budget_percent: { value: 0 }, min_retry_concurrency: 1 }",
    ])
    func retriesBeyondTheRetryLimitAreNotAttempted(thresholds: String) async throws {
        let flaky = try await TestUpstream.start(
            "flaky", behavior: .failNumbered([1, 3], status: 503, otherwiseDelay: .seconds(1)), group: group
        )
        defer { Task { await flaky.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(
            thresholds: thresholds, port: flaky.port, retryPolicy: "retry_on: 5xx\nnum_retries: 3"
        ), concurrency: 1)
        let port = proxy.port()
        let first = Task {
            let client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton)
            let status = try await client.get("/").status
            await client.close()
            return status
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while flaky.requests.count < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let second = try await RawClient(port: port, group: group)
        #expect(try await second.get("/").status == 503, "no retry slot left")
        await second.close()
        #expect(try await first.value == 200)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.upstream_rq_retry_overflow") == 1)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.upstream_rq_retry") == 1)
        await proxy.stop()
    }

    @Test func perHostMaxConnectionsQueuesRequestsOnOneConnection() async throws {
        let slow = try await TestUpstream.start("slow", behavior: .delay(.milliseconds(150)), group: group)
        defer { Task { await slow.close() } }
        let yaml = Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: backend }
                """,
            clusters: [Bootstrap.cluster("backend", ports: [slow.port], extra: """
                circuit_breakers:
                  per_host_thresholds:
                  - max_connections: 1
                """)]
        )
        // One worker: as in Envoy, a worker whose pool has no connection at all still opens one.
        let proxy = try await ProxyHarness.start(yaml, concurrency: 1)
        let results = try await Self.burst(port: proxy.port(), count: 4)
        #expect(results.allSatisfy { $0.status == 200 }, "\(results.map(\.status))")
        #expect(slow.connections == 1, "the other requests wait for the one connection")
        #expect((try await XDSTestsStat.value(proxy, "cluster.backend.upstream_cx_overflow") ?? 0) >= 1)
        await proxy.stop()
    }
}

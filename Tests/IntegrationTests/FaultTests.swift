import NIOCore
import NIOPosix
import Testing

/// `envoy.filters.http.fault` as Istio configures it (an empty filter in the chain, the fault in
/// the route's `typed_per_filter_config`) and as written by hand.
@Suite(.serialized)
struct FaultTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static let faultType = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"

    static func filter(_ config: String = "") -> String {
        """
        - name: envoy.filters.http.fault
          typed_config:
            "@type": \(faultType)
        \(Bootstrap.indented(config, 4))
        """
    }

    static func bootstrap(port: Int, filterConfig: String = "", routes: String? = nil) -> String {
        Bootstrap.http(
            routes: routes ?? """
                - match: { prefix: "/" }
                  route: { cluster: backend, timeout: 0.2s }
                """,
            clusters: [Bootstrap.cluster("backend", ports: [port])],
            filters: filter(filterConfig)
        )
    }

    func stat(_ proxy: ProxyHarness, _ name: String) async throws -> Int {
        try await XDSTestsStat.value(proxy, name) ?? -1
    }

    @Test func abortAtTenPercentAbortsAboutTenPercent() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, filterConfig: """
            abort:
              http_status: 500
              percentage: { numerator: 10, denominator: HUNDRED }
            """))
        let client = try await proxy.client()
        var aborted = 0
        for _ in 0..<1000 {
            let response = try await client.get("/")
            if response.status == 500 {
                aborted += 1
                #expect(response.body == "fault filter abort")
            }
        }
        // Binomial(1000, 0.1): sd ≈ 9.5; ±40 is over 4 sd.
        #expect((60...140).contains(aborted), "\(aborted) of 1000 aborted")
        #expect(try await stat(proxy, "http.ingress.fault.aborts_injected") == aborted)
        #expect(upstream.requests.count == 1000 - aborted)
        await client.close()
        await proxy.stop()
    }

    @Test func delayAtHundredPercentDelaysEveryRequestAndTheRouteTimeoutStartsAfterIt() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        // The route timeout (0.2 s) is shorter than the delay (0.3 s): Envoy's router timer only
        // starts once the fault filter lets the request through, so this must not be a 504.
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, filterConfig: """
            delay:
              fixed_delay: 0.3s
              percentage: { numerator: 100, denominator: HUNDRED }
            """))
        let client = try await proxy.client()
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let response = try await client.get("/")
            let elapsed = ContinuousClock.now - started
            #expect(response.status == 200)
            #expect(elapsed >= .milliseconds(290) && elapsed < .seconds(2), "\(elapsed)")
        }
        #expect(try await stat(proxy, "http.ingress.fault.delays_injected") == 3)
        #expect(try await stat(proxy, "http.ingress.fault.active_faults") == 0)
        await client.close()
        await proxy.stop()
    }

    @Test func istioShapeFaultPerRouteHeaderControlAndScoping() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let routes = """
            - match: { prefix: "/fail" }
              route: { cluster: backend }
              typed_per_filter_config:
                envoy.filters.http.fault:
                  "@type": \(Self.faultType)
                  abort:
                    http_status: 503
                    percentage: { numerator: 100 }
            - match: { prefix: "/header" }
              route: { cluster: backend }
              typed_per_filter_config:
                envoy.filters.http.fault:
                  "@type": \(Self.faultType)
                  abort:
                    header_abort: {}
                    percentage: { numerator: 100 }
            - match: { prefix: "/scoped" }
              route: { cluster: backend }
              typed_per_filter_config:
                envoy.filters.http.fault:
                  "@type": \(Self.faultType)
                  abort:
                    http_status: 429
                    percentage: { numerator: 100 }
                  headers:
                  - name: x-chaos
                    string_match: { exact: "on" }
            - match: { prefix: "/" }
              route: { cluster: backend }
            """
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, routes: routes))
        let client = try await proxy.client()
        #expect(try await client.get("/fail").status == 503)
        #expect(try await client.get("/ok").status == 200)
        #expect(try await client.get("/header", headers: [("x-envoy-fault-abort-request", "418")]).status == 418)
        #expect(try await client.get("/header").status == 200)
        #expect(try await client.get("/scoped", headers: [("x-chaos", "on")]).status == 429)
        #expect(try await client.get("/scoped").status == 200)
        await client.close()
        await proxy.stop()
    }

    @Test func maxActiveFaultsLetsTheRestThrough() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(port: upstream.port, filterConfig: """
            max_active_faults: 1
            delay:
              fixed_delay: 0.4s
              percentage: { numerator: 100 }
            """, routes: """
            - match: { prefix: "/" }
              route: { cluster: backend }
            """))
        let port = proxy.port()
        let elapsed = try await withThrowingTaskGroup(of: Duration.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton)
                    let started = ContinuousClock.now
                    _ = try await client.get("/")
                    await client.close()
                    return ContinuousClock.now - started
                }
            }
            var out: [Duration] = []
            for try await value in group { out.append(value) }
            return out.sorted()
        }
        #expect(elapsed[0] < .milliseconds(300), "one request is not delayed: \(elapsed)")
        #expect(elapsed[1] >= .milliseconds(390), "\(elapsed)")
        #expect(try await stat(proxy, "http.ingress.fault.faults_overflow") == 1)
        await proxy.stop()
    }
}

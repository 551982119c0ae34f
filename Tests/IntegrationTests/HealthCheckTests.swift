import NIOCore
import NIOPosix
import Testing

/// Active health checks remove a failing host and bring it back after the healthy threshold.
@Suite(.serialized)
struct HealthCheckTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static func bootstrap(ports: [Int], check: String, noTrafficInterval: String = "0.1s") -> String {
        Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: backend }
                """,
            clusters: [Bootstrap.cluster("backend", ports: ports, extra: """
                health_checks:
                - timeout: 0.2s
                  interval: 0.1s
                  no_traffic_interval: \(noTrafficInterval)
                  unhealthy_threshold: 2
                  healthy_threshold: 2
                \(Bootstrap.indented(check, 2))
                """)]
        )
    }

    func waitForStat(_ proxy: ProxyHarness, _ name: String, _ value: Int, timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await XDSTestsStat.value(proxy, name) == value { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestError("\(name) never reached \(value)")
    }

    @Test func httpChecksRemoveAFailingHostAndRestoreIt() async throws {
        var upstreams: [TestUpstream] = []
        for name in ["a", "b", "c"] { upstreams.append(try await TestUpstream.start(name, group: group)) }
        let all = upstreams
        defer { Task { for upstream in all { await upstream.close() } } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(ports: upstreams.map(\.port), check: """
            http_health_check:
              path: /healthz
              expected_statuses: [{ start: 200, end: 300 }]
            """))
        try await waitForStat(proxy, "cluster.backend.health_check.healthy", 3)
        let client = try await proxy.client()
        // Workers learn a health change a moment after the checker counts it: a few requests
        // may still skip the host that just passed.
        for _ in 0..<60 where upstreams[1].trafficRequests == 0 {
            #expect(try await client.get("/").status == 200)
        }
        #expect(upstreams[1].trafficRequests > 0)

        upstreams[1].healthStatus.withLock { $0 = 503 }
        try await waitForStat(proxy, "cluster.backend.health_check.healthy", 2)
        #expect(try await proxy.admin("/clusters").body.contains("::health_flags::/failed_active_hc"))
        let before = upstreams[1].trafficRequests
        for _ in 0..<30 { #expect(try await client.get("/").status == 200) }
        #expect(upstreams[1].trafficRequests == before, "an unhealthy host gets no traffic")

        upstreams[1].healthStatus.withLock { $0 = 200 }
        try await waitForStat(proxy, "cluster.backend.health_check.healthy", 3)
        for _ in 0..<30 { _ = try await client.get("/") }
        #expect(upstreams[1].trafficRequests > before, "restored after healthy_threshold successes")
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.health_check.failure") ?? 0 >= 2)
        await client.close()
        await proxy.stop()
    }

    @Test func tcpChecksKeepTrafficAwayFromADeadHost() async throws {
        let live = try await TestUpstream.start("live", group: group)
        defer { Task { await live.close() } }
        let dead = try refusingPort()
        let proxy = try await ProxyHarness.start(Self.bootstrap(ports: [dead, live.port], check: "tcp_health_check: {}"))
        try await waitForStat(proxy, "cluster.backend.health_check.healthy", 1)
        try await Task.sleep(for: .milliseconds(300))
        let client = try await proxy.client()
        for _ in 0..<20 {
            #expect(try await client.get("/").status == 200)
        }
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.health_check.network_failure") ?? 0 >= 1)
        await client.close()
        await proxy.stop()
    }

    /// As in Envoy, a cluster that never carried traffic is checked at `no_traffic_interval`
    /// (default 60 s), not `interval`: one round at start, then quiet.
    @Test func aClusterWithoutTrafficIsCheckedAtTheNoTrafficInterval() async throws {
        let upstream = try await TestUpstream.start("a", group: group)
        defer { Task { await upstream.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(
            ports: [upstream.port], check: "tcp_health_check: {}", noTrafficInterval: "60s"
        ))
        try await waitForStat(proxy, "cluster.backend.health_check.healthy", 1)
        try await Task.sleep(for: .milliseconds(600))
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.health_check.attempt") == 1)
        await proxy.stop()
    }
}

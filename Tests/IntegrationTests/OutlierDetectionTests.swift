import NIOCore
import NIOPosix
import Testing

/// Outlier ejection with Istio's numbers, times scaled down: `consecutive5xxErrors: 5`,
/// `interval`, `baseEjectionTime`, `maxEjectionPercent: 50`.
@Suite(.serialized)
struct OutlierDetectionTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static func bootstrap(ports: [Int], maxPercent: Int = 50, base: String = "0.5s") -> String {
        Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: backend }
                """,
            clusters: [Bootstrap.cluster("backend", ports: ports, extra: """
                outlier_detection:
                  consecutive_5xx: 5
                  interval: 0.1s
                  base_ejection_time: \(base)
                  max_ejection_percent: \(maxPercent)
                  enforcing_success_rate: 0
                """)]
        )
    }

    func send(_ client: RawClient, _ count: Int) async throws -> [Int] {
        var statuses: [Int] = []
        for _ in 0..<count {
            statuses.append(try await client.get("/").status)
        }
        return statuses
    }

    @Test func oneBadHostOfFourIsEjectedComesBackAndIsEjectedLongerTheSecondTime() async throws {
        let bad = try await TestUpstream.start("bad", behavior: .failFirst(100_000, status: 500), group: group)
        var good: [TestUpstream] = []
        for index in 0..<3 { good.append(try await TestUpstream.start("good\(index)", group: group)) }
        let all = [bad] + good
        defer { Task { for upstream in all { await upstream.close() } } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(ports: [bad.port] + good.map(\.port), base: "2s"), concurrency: 1)
        let client = try await proxy.client()
        let active = "cluster.backend.outlier_detection.ejections_active"

        _ = try await send(client, 20)  // round robin: the bad host sees 5 of them
        let firstEjection = ContinuousClock.now  // the ejection happened at or before this
        #expect(bad.requests.count == 5)
        #expect(try await XDSTestsStat.value(proxy, active) == 1)
        #expect(try await proxy.admin("/clusters").body.contains("::health_flags::/failed_outlier_check"))
        let whileEjected = try await send(client, 10)
        #expect(whileEjected.allSatisfy { $0 == 200 })
        #expect(bad.requests.count == 5)

        // Back after base_ejection_time (2 s) at the next interval tick (0.1 s).
        try await Task.sleep(until: firstEjection + .milliseconds(2_400))
        #expect(try await XDSTestsStat.value(proxy, active) == 0)
        _ = try await send(client, 20)
        let secondEjection = ContinuousClock.now
        #expect(bad.requests.count == 10, "back in rotation and ejected again after 5 more")
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.outlier_detection.ejections_enforced_total") == 2)
        // The second ejection lasts 2 × 2 s: still out at 2.8 s, back by 4.6 s.
        try await Task.sleep(until: secondEjection + .milliseconds(2_800))
        #expect(try await XDSTestsStat.value(proxy, active) == 1)
        try await Task.sleep(until: secondEjection + .milliseconds(4_600))
        #expect(try await XDSTestsStat.value(proxy, active) == 0)
        await client.close()
        await proxy.stop()
    }

    @Test func threeBadOfFourAtMostTwoEjected() async throws {
        var bad: [TestUpstream] = []
        for index in 0..<3 { bad.append(try await TestUpstream.start("bad\(index)", behavior: .failFirst(100_000, status: 503), group: group)) }
        let good = try await TestUpstream.start("good", group: group)
        let all = bad + [good]
        defer { Task { for upstream in all { await upstream.close() } } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(ports: bad.map(\.port) + [good.port], base: "30s"), concurrency: 1)
        let client = try await proxy.client()
        _ = try await send(client, 100)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.outlier_detection.ejections_active") == 2)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.outlier_detection.ejections_overflow") ?? 0 >= 1)
        await client.close()
        await proxy.stop()
    }

    @Test func belowThePanicThresholdEjectedHostsAreUsedAgainAndCounted() async throws {
        var bad: [TestUpstream] = []
        for index in 0..<2 { bad.append(try await TestUpstream.start("bad\(index)", behavior: .failFirst(100_000, status: 503), group: group)) }
        let good = try await TestUpstream.start("good", group: group)
        let all = bad + [good]
        defer { Task { for upstream in all { await upstream.close() } } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(ports: bad.map(\.port) + [good.port], maxPercent: 100, base: "30s"), concurrency: 1)
        let client = try await proxy.client()
        _ = try await send(client, 60)
        // Both bad hosts ejected leaves 1 of 3 (33 % < 50 %): panic routing uses all three.
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.outlier_detection.ejections_active") == 2)
        let before = bad[0].requests.count + bad[1].requests.count
        _ = try await send(client, 30)
        #expect(bad[0].requests.count + bad[1].requests.count > before, "panic routing reaches ejected hosts")
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.lb_healthy_panic") ?? 0 > 0)
        await client.close()
        await proxy.stop()
    }
}

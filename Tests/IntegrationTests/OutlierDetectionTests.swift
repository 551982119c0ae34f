import NIOCore
import NIOPosix
import Testing

/// Outlier ejection with Istio's numbers, times scaled down: `consecutive5xxErrors: 5`,
/// `interval`, `baseEjectionTime`, `maxEjectionPercent: 50`.
@Suite(.serialized)
struct OutlierDetectionTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static func bootstrap(ports: [Int], maxPercent: Int = 50, base: String = "0.5s", interval: String = "0.1s") -> String {
        Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: backend }
                """,
            clusters: [Bootstrap.cluster("backend", ports: ports, extra: """
                outlier_detection:
                  consecutive_5xx: 5
                  interval: \(interval)
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
        // A 1 s interval: a host back in rotation is ejected again before the next tick, so its
        // ejection multiplier has no healthy interval in which to decay (as in Envoy).
        let proxy = try await ProxyHarness.start(
            Self.bootstrap(ports: [bad.port] + good.map(\.port), base: "2s", interval: "1s"), concurrency: 1
        )
        let client = try await proxy.client()
        let active = "cluster.backend.outlier_detection.ejections_active"
        func waitUntilReturned(by deadline: ContinuousClock.Instant) async throws -> ContinuousClock.Instant? {
            while ContinuousClock.now < deadline {
                if try await XDSTestsStat.value(proxy, active) == 0 { return ContinuousClock.now }
                try await Task.sleep(for: .milliseconds(25))
            }
            return nil
        }

        let beforeFirst = ContinuousClock.now
        _ = try await send(client, 20)  // round robin: the bad host sees 5 of them
        #expect(bad.requests.count == 5)
        #expect(try await XDSTestsStat.value(proxy, active) == 1)
        #expect(try await proxy.admin("/clusters").body.contains("::health_flags::/failed_outlier_check"))
        let whileEjected = try await send(client, 10)
        #expect(whileEjected.allSatisfy { $0 == 200 })
        #expect(bad.requests.count == 5)

        // Back after base_ejection_time (2 s), at the first interval tick after it.
        let firstReturn = try #require(try await waitUntilReturned(by: beforeFirst + .milliseconds(4_500)))
        #expect(firstReturn - beforeFirst >= .milliseconds(1_950))
        let beforeSecond = ContinuousClock.now
        _ = try await send(client, 20)
        #expect(bad.requests.count == 10, "back in rotation and ejected again after 5 more")
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.outlier_detection.ejections_enforced_total") == 2)
        // The second ejection lasts 2 × 2 s.
        let secondReturn = try #require(try await waitUntilReturned(by: beforeSecond + .milliseconds(6_500)))
        #expect(secondReturn - beforeSecond >= .milliseconds(3_950), "\(secondReturn - beforeSecond)")
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

    /// Success-rate ejection runs on the interval tick over every worker's counts: with 5 hosts,
    /// the one failing half its requests falls below mean − 1.9 × stdev and is ejected; consecutive
    /// detection is off, so nothing else could have ejected it.
    @Test func successRateEjectsTheOutlierAtTheInterval() async throws {
        let bad = try await TestUpstream.start("bad", behavior: .failFirst(100_000, status: 500), group: group)
        var good: [TestUpstream] = []
        for index in 0..<4 { good.append(try await TestUpstream.start("good\(index)", group: group)) }
        let all = [bad] + good
        defer { Task { for upstream in all { await upstream.close() } } }
        let yaml = Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: backend }
                """,
            clusters: [Bootstrap.cluster("backend", ports: all.map(\.port), extra: """
                outlier_detection:
                  consecutive_5xx: 0
                  consecutive_gateway_failure: 0
                  interval: 1s
                  base_ejection_time: 30s
                  max_ejection_percent: 100
                  success_rate_minimum_hosts: 5
                  success_rate_request_volume: 10
                """)]
        )
        let proxy = try await ProxyHarness.start(yaml, concurrency: 2)
        let client = try await proxy.client()
        let enforced = "cluster.backend.outlier_detection.ejections_enforced_success_rate"
        #expect(try await XDSTestsStat.value(proxy, enforced) == 0)
        // Enough traffic for every host to pass the volume within one interval, then wait for
        // the tick (up to two intervals, as the first may have started mid-burst).
        _ = try await send(client, 100)
        let deadline = ContinuousClock.now + .seconds(4)
        while try await XDSTestsStat.value(proxy, enforced) != 1, ContinuousClock.now < deadline {
            _ = try await send(client, 50)
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await XDSTestsStat.value(proxy, enforced) == 1)
        #expect(try await XDSTestsStat.value(proxy, "cluster.backend.outlier_detection.ejections_active") == 1)
        let seen = bad.requests.count
        let after = try await send(client, 20)
        #expect(after.allSatisfy { $0 == 200 } && bad.requests.count == seen, "the ejected host gets no more traffic")
        await client.close()
        await proxy.stop()
    }
}

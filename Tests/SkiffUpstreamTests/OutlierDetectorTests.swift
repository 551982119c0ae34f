import NIOCore
import SkiffCore
import Testing
@testable import SkiffUpstream

/// Outlier detection's rules on an injected clock (`now` is passed in).
struct OutlierDetectorTests {
    static func config() -> OutlierDetectionConfig {
        var config = OutlierDetectionConfig()
        config.consecutive5xx = 5
        config.baseEjectionTime = .seconds(30)
        config.maxEjectionTime = .seconds(300)
        config.maxEjectionPercent = 50
        return config
    }

    static func fail(_ health: HostHealth, times: Int, resources: ClusterResources, hosts: Int = 4, now: UInt64, status: Int = 500,
                     config: OutlierDetectionConfig = config()) -> [OutlierDetector.Ejection] {
        (0..<times).compactMap { _ in
            OutlierDetector.record(.response(status), health: health, config: config, hostCount: hosts, resources: resources, now: now, random: 0)
        }
    }

    @Test func fiveConsecutive5xxEjectAndTheSecondEjectionIsTwiceAsLong() {
        let resources = ClusterResources()
        let health = HostHealth()
        let second: UInt64 = 1_000_000_000
        #expect(Self.fail(health, times: 4, resources: resources, now: 0).isEmpty)
        // A success in between resets the count.
        _ = OutlierDetector.record(.response(200), health: health, config: Self.config(), hostCount: 4, resources: resources, now: 0, random: 0)
        #expect(Self.fail(health, times: 4, resources: resources, now: 0).isEmpty)
        #expect(Self.fail(health, times: 1, resources: resources, now: 0) == [.ejected(.consecutive5xx)])
        #expect(health.isEjected && resources.inUse(.ejectedHosts) == 1)
        #expect(OutlierDetector.sweep([health], resources: resources, now: 29 * second) == 0)
        #expect(OutlierDetector.sweep([health], resources: resources, now: 30 * second) == 1)
        #expect(!health.isEjected && resources.inUse(.ejectedHosts) == 0)
        #expect(Self.fail(health, times: 5, resources: resources, now: 40 * second) == [.ejected(.consecutive5xx)])
        #expect(OutlierDetector.sweep([health], resources: resources, now: 99 * second) == 0, "second ejection lasts 60 s")
        #expect(OutlierDetector.sweep([health], resources: resources, now: 100 * second) == 1)
    }

    @Test func maxEjectionPercentIsExact() {
        let resources = ClusterResources()
        let hosts = (0..<4).map { _ in HostHealth() }
        var results: [OutlierDetector.Ejection] = []
        for host in hosts.prefix(3) {
            results += Self.fail(host, times: 5, resources: resources, now: 0)
        }
        #expect(results == [.ejected(.consecutive5xx), .ejected(.consecutive5xx), .overflow(.consecutive5xx)], "50 % of 4 is 2")
        #expect(resources.inUse(.ejectedHosts) == 2)
        // With 3 hosts and 50 %, only one may go (1.5 rounds down).
        let three = ClusterResources()
        let first = Self.fail(HostHealth(), times: 5, resources: three, hosts: 3, now: 0)
        let second = Self.fail(HostHealth(), times: 5, resources: three, hosts: 3, now: 0)
        #expect(first == [.ejected(.consecutive5xx)] && second == [.overflow(.consecutive5xx)])
    }

    @Test func gatewayFailuresAreDetectedButNotEnforcedByDefault() {
        var config = Self.config()
        config.consecutive5xx = 0
        let resources = ClusterResources()
        let health = HostHealth()
        let results = Self.fail(health, times: 5, resources: resources, now: 0, status: 503, config: config)
        #expect(results == [.notEnforced(.consecutiveGatewayFailure)])
        #expect(!health.isEjected)
        config.enforcingConsecutiveGatewayFailure = 100
        #expect(Self.fail(HostHealth(), times: 5, resources: resources, now: 0, status: 503, config: config) == [.ejected(.consecutiveGatewayFailure)])
    }

    @Test func ejectionMultiplierDecaysWhileTheHostStaysHealthy() {
        let resources = ClusterResources()
        let health = HostHealth()
        let second: UInt64 = 1_000_000_000
        _ = Self.fail(health, times: 5, resources: resources, now: 0)
        OutlierDetector.sweep([health], resources: resources, now: 30 * second, decay: true)
        _ = Self.fail(health, times: 5, resources: resources, now: 31 * second)
        #expect(health.ejectionCount == 2)
        OutlierDetector.sweep([health], resources: resources, now: 91 * second, decay: true)
        // Two healthy intervals: the multiplier is back to zero, so the next ejection is 30 s.
        OutlierDetector.sweep([health], resources: resources, now: 101 * second, decay: true)
        OutlierDetector.sweep([health], resources: resources, now: 111 * second, decay: true)
        #expect(health.ejectionCount == 0)
        _ = Self.fail(health, times: 5, resources: resources, now: 120 * second)
        #expect(OutlierDetector.sweep([health], resources: resources, now: 149 * second) == 0)
        #expect(OutlierDetector.sweep([health], resources: resources, now: 150 * second) == 1)
    }

    @Test func localOriginFailuresCountApartWhenSplit() {
        var config = Self.config()
        config.splitExternalLocalOriginErrors = true
        config.consecutiveLocalOriginFailure = 3
        let resources = ClusterResources()
        let health = HostHealth()
        let record = { (outcome: UpstreamOutcome) in
            OutlierDetector.record(outcome, health: health, config: config, hostCount: 4, resources: resources, now: 0, random: 0)
        }
        #expect(record(.noResponse) == nil && record(.noResponse) == nil)
        // Any response proves the host reachable: the local-origin count starts over, and 5xx
        // responses do not add to it.
        #expect(record(.response(503)) == nil)
        #expect(record(.noResponse) == nil && record(.noResponse) == nil)
        #expect(record(.noResponse) == .ejected(.consecutiveLocalOriginFailure))
    }

    /// Envoy's arithmetic: 5 hosts with 100 requests each, four at 100 % and one at 50 %: mean
    /// 90, stdev 20, threshold 90 − 1.9 × 20 = 52 → the 50 % host goes.
    @Test func successRateEjectsHostsBelowMeanMinusStdevFactor() {
        var config = Self.config()
        config.consecutive5xx = 0
        config.consecutiveGatewayFailure = 0
        config.maxEjectionPercent = 100
        let resources = ClusterResources()
        let hosts = (0..<5).map { _ in HostHealth() }
        for (index, host) in hosts.enumerated() {
            for request in 0..<100 {
                let status = index == 4 && request % 2 == 0 ? 500 : 200
                _ = OutlierDetector.record(.response(status), health: host, config: config, hostCount: 5, resources: resources, now: 0, random: 0)
            }
        }
        var random = FastRandom(seed: 7)
        let tick = OutlierDetector.intervalTick(hosts, config: config, resources: resources, now: 0, random: &random)
        #expect(tick.ejections == [.ejected(.successRate)])
        #expect(hosts[4].isEjected && !hosts[0].isEjected)
        // The counts were consumed: the next tick has no data and ejects nobody.
        #expect(OutlierDetector.intervalTick(hosts, config: config, resources: resources, now: 1, random: &random).ejections.isEmpty)
        #expect(abs(OutlierDetector.successRateThreshold([100, 100, 100, 100, 50], stdevFactor: 1.9) - 52) < 0.001)
    }

    @Test func failurePercentageNeedsVolumeAndMinimumHostsAndIsOffByDefault() {
        var config = Self.config()
        config.consecutive5xx = 0
        config.consecutiveGatewayFailure = 0
        config.enforcingSuccessRate = 0
        config.maxEjectionPercent = 100
        config.failurePercentageMinimumHosts = 2
        let resources = ClusterResources()
        let hosts = (0..<3).map { _ in HostHealth() }
        func load() {
            for (index, host) in hosts.enumerated() {
                let volume = index == 2 ? 10 : 60
                for _ in 0..<volume {
                    let status = index == 0 ? 200 : 503
                    _ = OutlierDetector.record(.response(status), health: host, config: config, hostCount: 3, resources: resources, now: 0, random: 0)
                }
            }
        }
        var random = FastRandom(seed: 9)
        load()
        #expect(OutlierDetector.intervalTick(hosts, config: config, resources: resources, now: 0, random: &random).ejections
            == [.notEnforced(.failurePercentage)], "detected, enforcing_failure_percentage defaults to 0")
        config.enforcingFailurePercentage = 100
        load()
        // Host 2 fails every request but sent only 10 (< failure_percentage_request_volume 50).
        #expect(OutlierDetector.intervalTick(hosts, config: config, resources: resources, now: 0, random: &random).ejections
            == [.ejected(.failurePercentage)])
        #expect(hosts[1].isEjected && !hosts[2].isEjected)
    }
}

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
        #expect(Self.fail(health, times: 1, resources: resources, now: 0) == [.ejected(consecutive5xx: true)])
        #expect(health.isEjected && resources.inUse(.ejectedHosts) == 1)
        #expect(OutlierDetector.sweep([health], resources: resources, now: 29 * second) == 0)
        #expect(OutlierDetector.sweep([health], resources: resources, now: 30 * second) == 1)
        #expect(!health.isEjected && resources.inUse(.ejectedHosts) == 0)
        #expect(Self.fail(health, times: 5, resources: resources, now: 40 * second) == [.ejected(consecutive5xx: true)])
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
        #expect(results == [.ejected(consecutive5xx: true), .ejected(consecutive5xx: true), .overflow], "50 % of 4 is 2")
        #expect(resources.inUse(.ejectedHosts) == 2)
        // With 3 hosts and 50 %, only one may go (1.5 rounds down).
        let three = ClusterResources()
        let first = Self.fail(HostHealth(), times: 5, resources: three, hosts: 3, now: 0)
        let second = Self.fail(HostHealth(), times: 5, resources: three, hosts: 3, now: 0)
        #expect(first == [.ejected(consecutive5xx: true)] && second == [.overflow])
    }

    @Test func gatewayFailuresAreDetectedButNotEnforcedByDefault() {
        var config = Self.config()
        config.consecutive5xx = 0
        let resources = ClusterResources()
        let health = HostHealth()
        let results = Self.fail(health, times: 5, resources: resources, now: 0, status: 503, config: config)
        #expect(results == [.notEnforced(consecutive5xx: false)])
        #expect(!health.isEjected)
        config.enforcingConsecutiveGatewayFailure = 100
        #expect(Self.fail(HostHealth(), times: 5, resources: resources, now: 0, status: 503, config: config) == [.ejected(consecutive5xx: false)])
    }
}

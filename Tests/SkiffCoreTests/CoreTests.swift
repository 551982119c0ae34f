import SkiffCore
import Testing

struct HTTPDateTests {
    @Test func formatsIMFFixdate() {
        #expect(HTTPDateCache.format(epochSeconds: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDateCache.format(epochSeconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDateCache.format(epochSeconds: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDateCache.iso8601(epochSeconds: 784_111_777) == "1994-11-06T08:49:37Z")
    }
}

struct ProxyErrorTests {
    @Test func localRepliesMatchEnvoy() {
        #expect(ProxyError(.noRoute).localReply == LocalReply(status: 404, flag: .noRouteFound, body: ""))
        #expect(ProxyError(.noHealthyUpstream).localReply.body == "no healthy upstream")
        #expect(ProxyError(.upstreamTimeout).localReply.status == 504)
        #expect(ProxyError(.upstreamTimeout).localReply.flag.rawValue == "UT")
        #expect(ProxyError(.connectFailure("x")).localReply.flag == .upstreamConnectionFailure)
        #expect(ProxyError(.upstreamReset(beforeHeaders: true)).localReply.flag.rawValue == "UC")
    }

    @Test func retryabilityFollowsTheSource() {
        #expect(ProxyError(.connectFailure("x")).retryable)
        #expect(ProxyError(.connectFailure("x")).source == .upstream)
        #expect(!ProxyError(.noRoute).retryable)
        #expect(ProxyError(.downstreamProtocolError(status: 400, detail: "")).source == .downstream)
    }

    @Test func socketAddressStatNames() {
        #expect(SocketAddressConfig(host: "127.0.0.1", port: 80).statName == "127.0.0.1_80")
        #expect(SocketAddressConfig(host: "::1", port: 80).statName == "[::1]_80")
    }
}

/// Envoy's health-check intervals by traffic and host state.
struct HealthCheckScheduleTests {
    @Test func intervalsFollowTrafficAndHostState() {
        var check = HealthCheckConfig(kind: .tcp(send: [], receive: []), timeout: .seconds(1), interval: .seconds(5),
                                      unhealthyThreshold: 2, healthyThreshold: 2)
        #expect(check.nextDelay(hadTraffic: false, healthy: true, justChanged: false, random: 0) == .seconds(60))
        #expect(check.nextDelay(hadTraffic: true, healthy: true, justChanged: false, random: 0) == .seconds(5))
        #expect(check.nextDelay(hadTraffic: true, healthy: false, justChanged: true, random: 0) == .seconds(5))
        check.unhealthyInterval = .seconds(2)
        check.unhealthyEdgeInterval = .seconds(1)
        check.healthyEdgeInterval = .milliseconds(500)
        check.noTrafficHealthyInterval = .seconds(90)
        #expect(check.nextDelay(hadTraffic: true, healthy: false, justChanged: false, random: 0) == .seconds(2))
        #expect(check.nextDelay(hadTraffic: true, healthy: false, justChanged: true, random: 0) == .seconds(1))
        #expect(check.nextDelay(hadTraffic: true, healthy: true, justChanged: true, random: 0) == .milliseconds(500))
        #expect(check.nextDelay(hadTraffic: false, healthy: true, justChanged: false, random: 0) == .seconds(90))
        #expect(check.nextDelay(hadTraffic: false, healthy: false, justChanged: false, random: 0) == .seconds(60))
        check.intervalJitter = .seconds(1)
        let jittered = check.nextDelay(hadTraffic: true, healthy: true, justChanged: false, random: 123_456_789_012)
        #expect(jittered >= .seconds(5) && jittered < .seconds(6))
    }
}

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

import NIOHTTP1
import SkiffCore
@testable import SkiffHTTP
import Testing

struct HeaderTransformsTests {
    @Test func hopByHopAndNominatedHeadersAreRemoved() {
        var headers = HTTPHeaders([
            ("connection", "keep-alive, x-private"), ("x-private", "1"), ("keep-alive", "timeout=5"),
            ("proxy-connection", "x"), ("upgrade", "h2c"), ("te", "gzip"), ("content-length", "3"), ("x-keep", "y"),
        ])
        HeaderTransforms.removeHopByHop(&headers)
        #expect(headers.map(\.name).sorted() == ["content-length", "x-keep"])
    }

    @Test func teTrailersSurvives() {
        var headers = HTTPHeaders([("te", "trailers")])
        HeaderTransforms.removeHopByHop(&headers)
        #expect(headers["te"] == ["trailers"])
    }

    @Test func upstreamHeadGetsEnvoysHeaders() {
        var random = FastRandom(seed: 9)
        let request = HTTPRequestHead(version: .http1_0, method: .POST, uri: "/a", headers: HTTPHeaders([("host", "svc"), ("x-forwarded-for", "10.0.0.1")]))
        let info = HeaderTransforms.DownstreamInfo(remoteIP: "192.0.2.7", useRemoteAddress: true, skipXFFAppend: false, generateRequestID: true)
        let head = HeaderTransforms.upstreamRequestHead(
            request, path: "/b", action: ForwardAction(target: .single("c"), timeout: .milliseconds(1500)),
            mutations: [HeaderMutations(add: [.init(name: "x-added", value: "1", action: .overwriteIfExistsOrAdd)], remove: ["host"])],
            downstream: info, random: &random
        )
        #expect(head.version == HTTPVersion.http1_1)
        #expect(head.uri == "/b")
        #expect(head.headers["x-forwarded-for"] == ["10.0.0.1,192.0.2.7"])
        #expect(head.headers["x-forwarded-proto"] == ["http"])
        #expect(head.headers["x-envoy-expected-rq-timeout-ms"] == ["1500"])
        #expect(head.headers["x-request-id"].first?.count == 36)
        #expect(head.headers["x-added"] == ["1"])
        #expect(head.headers["host"].isEmpty)
    }

    /// With tracing, the tracer's id (made when none came, or stamped with its decision) is the
    /// one `x-request-id` sent: one header, never a second id.
    @Test func theTracersRequestIDIsTheOneSent() {
        var random = FastRandom(seed: 9)
        let info = HeaderTransforms.DownstreamInfo(remoteIP: nil, useRemoteAddress: false, skipXFFAppend: false, generateRequestID: true)
        let traced = "00000fff-0000-9000-8000-000000000000"
        for incoming in [nil, "00000fff-0000-4000-8000-000000000000", traced] {
            let headers = HTTPHeaders(incoming.map { [("X-Request-Id", $0)] } ?? [])
            let head = HeaderTransforms.upstreamRequestHead(
                HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: headers), path: "/",
                action: ForwardAction(target: .single("c"), timeout: nil), mutations: [], downstream: info, requestID: traced, random: &random
            )
            #expect(head.headers["x-request-id"] == [traced], "incoming \(incoming ?? "none")")
        }
    }

    @Test func xffIsUntouchedWithoutUseRemoteAddress() {
        var random = FastRandom(seed: 9)
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders([("x-request-id", "keep-me")]))
        let info = HeaderTransforms.DownstreamInfo(remoteIP: "192.0.2.7", useRemoteAddress: false, skipXFFAppend: false, generateRequestID: true)
        let head = HeaderTransforms.upstreamRequestHead(
            request, path: "/", action: ForwardAction(target: .single("c"), timeout: nil), mutations: [], downstream: info, random: &random
        )
        #expect(head.headers["x-forwarded-for"].isEmpty)
        #expect(head.headers["x-request-id"] == ["keep-me"])
        #expect(head.headers["x-envoy-expected-rq-timeout-ms"].isEmpty)
    }

    @Test(arguments: [
        (HeaderMutations.AppendAction.appendIfExistsOrAdd, ["a", "b"]),
        (.addIfAbsent, ["a"]),
        (.overwriteIfExistsOrAdd, ["b"]),
        (.overwriteIfExists, ["b"]),
    ])
    func appendActions(action: HeaderMutations.AppendAction, expected: [String]) {
        var headers = HTTPHeaders([("x", "a")])
        HeaderTransforms.apply(HeaderMutations(add: [.init(name: "x", value: "b", action: action)]), to: &headers)
        #expect(headers["x"] == expected)
    }

    @Test func overwriteIfExistsDoesNotAdd() {
        var headers = HTTPHeaders()
        HeaderTransforms.apply(HeaderMutations(add: [.init(name: "x", value: "b", action: .overwriteIfExists)]), to: &headers)
        #expect(headers["x"].isEmpty)
    }

    @Test func requestIDsAreVersion4UUIDs() {
        var random = FastRandom(seed: 1)
        let id = RequestID.make(&random)
        let parts = id.split(separator: "-")
        #expect(parts.map(\.count) == [8, 4, 4, 4, 12])
        #expect(parts[2].first == "4")
        #expect("89ab".contains(parts[3].first!))
    }
}

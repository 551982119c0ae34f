import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import Synchronization
import Testing

/// HTTP/2 end to end on real sockets: an HTTP/2 client (NIO's, prior-knowledge h2c) through
/// Skiff to an h2c upstream with many concurrent streams, both translations (HTTP/1.1 ↔ HTTP/2),
/// and an upstream GOAWAY in the middle of traffic.
@Suite(.serialized)
struct HTTP2Tests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static let h2Cluster = """
        typed_extension_protocol_options:
          envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
            "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
            explicit_http_config: { http2_protocol_options: {} }
        """

    static let route = """
        - match: { prefix: "/" }
          route: { cluster: app }
        """

    func stat(_ proxy: ProxyHarness, _ name: String) async throws -> Int {
        try await XDSTestsStat.value(proxy, name) ?? 0
    }

    @Test func aHundredConcurrentStreamsOnOneConnectionToAnH2cUpstream() async throws {
        let app = try await TestUpstream.start("app", behavior: .echo, group: group, http2: true)
        defer { Task { await app.close() } }
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: Self.route, clusters: [Bootstrap.cluster("app", ports: [app.port], extra: Self.h2Cluster)]
        ))
        let client = try await H2Client.connect(port: proxy.port(), group: group)
        let responses = try await withThrowingTaskGroup(of: (Int, H2Client.Response).self) { tasks in
            for index in 0..<100 {
                tasks.addTask { (index, try await client.request(.POST, "/item/\(index)", body: ["payload-\(index)"])) }
            }
            var out: [Int: H2Client.Response] = [:]
            for try await (index, response) in tasks { out[index] = response }
            return out
        }
        #expect(responses.count == 100)
        for (index, response) in responses {
            #expect(response.status == 200 && response.body == "payload-\(index)", "stream \(index): \(response.status) \(response.body)")
        }
        #expect(app.requests.count == 100)
        #expect(Set(app.requests.map(\.uri)).count == 100)
        // One downstream connection, few upstream connections (streams are multiplexed; each of
        // the two workers may open its own).
        #expect(try await stat(proxy, "http.ingress.downstream_cx_http2_total") == 1)
        #expect(try await stat(proxy, "http.ingress.downstream_rq_http2_total") == 100)
        #expect(try await stat(proxy, "cluster.app.upstream_cx_http2_total") <= 2)
        #expect(app.connections <= 2)
        await client.close()
        await proxy.stop()
    }

    @Test func http1ClientToHTTP2UpstreamAndTheReverse() async throws {
        let h2App = try await TestUpstream.start("h2app", behavior: .echo, group: group, http2: true)
        let h1App = try await TestUpstream.start("h1app", behavior: .echo, group: group)
        defer { Task { await h2App.close(); await h1App.close() } }
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
                - match: { prefix: "/h2" }
                  route: { cluster: h2app }
                - match: { prefix: "/" }
                  route: { cluster: h1app }
                """,
            clusters: [
                Bootstrap.cluster("h2app", ports: [h2App.port], extra: Self.h2Cluster),
                Bootstrap.cluster("h1app", ports: [h1App.port]),
            ]
        ))
        // HTTP/1.1 in, HTTP/2 out: Host becomes :authority, the body arrives intact.
        let h1 = try await proxy.client()
        try await h1.send("POST /h2/x HTTP/1.1\r\nhost: svc.example\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nhello")
        let viaH2 = try await h1.readResponse()
        #expect(viaH2.status == 200 && viaH2.body == "hello")
        let seenByH2 = try #require(h2App.requests.last)
        #expect(seenByH2.headers["host"].first == "svc.example")
        #expect(seenByH2.headers["connection"].isEmpty)
        await h1.close()

        // HTTP/2 in, HTTP/1.1 out: :authority becomes Host; a body without content-length is
        // chunked to the HTTP/1.1 upstream.
        let h2 = try await H2Client.connect(port: proxy.port(), group: group)
        let viaH1 = try await h2.request(.POST, "/y", authority: "other.example", body: ["part one, ", "part two"])
        #expect(viaH1.status == 200 && viaH1.body == "part one, part two")
        let seenByH1 = try #require(h1App.requests.last)
        #expect(seenByH1.version == .http1_1)
        #expect(seenByH1.headers["host"].first == "other.example")
        await h2.close()
        await proxy.stop()
    }

    /// The upstream sends GOAWAY while requests are running (naming the last stream it received,
    /// as a server shutting down gracefully does): the streams it accepted finish, streams in
    /// flight past it are sent again, new requests go to a new connection, and none fails.
    @Test func upstreamGoAwayMidTrafficFailsNothing() async throws {
        let app = try await TestUpstream.start("app", behavior: .delay(.milliseconds(20)), group: group, http2: true)
        defer { Task { await app.close() } }
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: Self.route, clusters: [Bootstrap.cluster("app", ports: [app.port], extra: Self.h2Cluster)]
        ), concurrency: 1)
        let client = try await H2Client.connect(port: proxy.port(), group: group)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for index in 0..<200 {
                tasks.addTask {
                    try await Task.sleep(for: .milliseconds(index))
                    return try await client.request(.GET, "/n/\(index)").status
                }
            }
            tasks.addTask {
                // Mid-traffic: once some streams ran on the first connection, and again once
                // a second connection carried some.
                let giveUp = ContinuousClock.now + .seconds(10)
                while app.streams < 40, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(5)) }
                app.sendGoAway()
                while app.connections < 2 || app.streams < 100, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(5)) }
                app.sendGoAway()
                return 200
            }
            var out: [Int] = []
            for try await status in tasks { out.append(status) }
            return out
        }
        #expect(statuses.count == 201)
        #expect(statuses.allSatisfy { $0 == 200 }, "\(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
        #expect(app.connections >= 2, "new connections after GOAWAY")
        await client.close()
        await proxy.stop()
    }

    /// A GOAWAY whose last stream is below streams already sent refuses those: the server did
    /// not process them, so Skiff sends them again on a new connection (no retry policy).
    @Test func streamsRefusedByGoAwayAreSentAgain() async throws {
        let app = try await TestUpstream.start("app", behavior: .delay(.milliseconds(200)), group: group, http2: true)
        defer { Task { await app.close() } }
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: Self.route, clusters: [Bootstrap.cluster("app", ports: [app.port], extra: Self.h2Cluster)]
        ), concurrency: 1)
        let client = try await H2Client.connect(port: proxy.port(), group: group)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for index in 0..<10 {
                tasks.addTask { try await client.request(.GET, "/r/\(index)").status }
            }
            tasks.addTask {
                try await Task.sleep(for: .milliseconds(80))
                // Only stream 1 (the first) is kept; the others were "never processed".
                app.sendGoAway(lastStreamID: HTTP2StreamID(1))
                return 200
            }
            var out: [Int] = []
            for try await status in tasks { out.append(status) }
            return out
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(app.connections >= 2)
        await client.close()
        await proxy.stop()
    }

    /// 100 MB from an h2c upstream to a client that stops reading: the upstream stream's
    /// flow-control window (`initial_stream_window_size`, 1 MiB here) holds the upstream back,
    /// and reading lets it go on. (Only part of the body is read: moving 100 MB through a debug
    /// build starves the timing-sensitive tests that run alongside.)
    @Test func aSlowReaderHoldsBackAnHTTP2Upstream() async throws {
        let total = 100 * 1024 * 1024
        let firehose = try await TestUpstream.start("firehose", behavior: .stream(bytes: total), group: group, http2: true)
        defer { Task { await firehose.close() } }
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: firehose, timeout: 0s }
                """,
            clusters: [Bootstrap.cluster("firehose", ports: [firehose.port], extra: """
                typed_extension_protocol_options:
                  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                    explicit_http_config: { http2_protocol_options: { initial_stream_window_size: 1048576 } }
                """)]
        ))
        let client = try await proxy.client()
        try await client.send("GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        try await Task.sleep(for: .seconds(1))
        let written = firehose.bytesStreamed
        // The window, the proxy's 1 MiB per-connection limit and the socket buffers.
        #expect(written < 12 * 1024 * 1024, "upstream wrote \(written) bytes into a stalled client")
        let received = try await client.readToEnd(limit: written + 4 * 1024 * 1024)
        #expect(String(buffer: received).hasPrefix("HTTP/1.1 200 OK"))
        #expect(firehose.bytesStreamed > written, "reading resumed the upstream")
        await client.close()
        await proxy.stop()
    }

    /// A finished stream is left for NIO to close, not reset: a RST_STREAM after every response
    /// trips servers' reset-flood guards (NIO's: 200 in 30 s), which then GOAWAY the connection
    /// every couple of hundred requests. 300 requests keep one upstream connection.
    @Test func finishedStreamsAreNotReset() async throws {
        let app = try await TestUpstream.start("app", group: group, http2: true)
        defer { Task { await app.close() } }
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: Self.route, clusters: [Bootstrap.cluster("app", ports: [app.port], extra: Self.h2Cluster)]
        ), concurrency: 1)
        let client = try await H2Client.connect(port: proxy.port(), group: group)
        for batch in 0..<6 {
            let statuses = try await withThrowingTaskGroup(of: Int.self) { tasks in
                for index in 0..<50 {
                    tasks.addTask { try await client.request(.GET, "/item/\(batch)-\(index)").status }
                }
                return try await tasks.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 200 })
        }
        #expect(try await stat(proxy, "cluster.app.upstream_cx_total") == 1)
        #expect(try await stat(proxy, "cluster.app.upstream_cx_destroy_remote") == 0)
        await client.close()
        await proxy.stop()
    }

    /// The other direction: an HTTP/2 client that sends its request and then reads nothing (no
    /// socket reads, no WINDOW_UPDATE) while an HTTP/1.1 upstream streams 100 MB. The client's
    /// stream window (65,535 bytes by default) caps what Skiff may send; the stream stays
    /// unwritable, Skiff stops reading the upstream, and the upstream's socket fills. Opening the
    /// window and reading lets it go on.
    @Test func aStalledHTTP2ClientHoldsBackTheUpstream() async throws {
        let firehose = try await TestUpstream.start("firehose", behavior: .stream(bytes: 100 * 1024 * 1024), group: group)
        defer { Task { await firehose.close() } }
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
                - match: { prefix: "/" }
                  route: { cluster: firehose, timeout: 0s }
                """,
            clusters: [Bootstrap.cluster("firehose", ports: [firehose.port])]
        ))
        let received = ByteCounter()
        let client = try await ClientBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .connect(host: "127.0.0.1", port: proxy.port()).get()
        try await client.pipeline.addHandler(received).get()
        var opening = ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        opening.writeBytes([0, 0, 0, 0x4, 0, 0, 0, 0, 0])  // SETTINGS, empty
        // HEADERS on stream 1, END_STREAM | END_HEADERS: GET, /, http (static table), :authority x.
        opening.writeBytes([0, 0, 6, 0x1, 0x5, 0, 0, 0, 1, 0x82, 0x84, 0x86, 0x41, 0x01, UInt8(ascii: "x")])
        try await client.writeAndFlush(opening)
        try await Task.sleep(for: .seconds(1))
        let written = firehose.bytesStreamed
        // The 64 KiB window, the stream's and the proxy's buffers, and the upstream socket.
        #expect(written < 12 * 1024 * 1024, "upstream wrote \(written) bytes toward a stalled HTTP/2 client")
        #expect(written > 0)

        var windowUpdates = ByteBuffer()
        for stream: UInt8 in [0, 1] {  // WINDOW_UPDATE +1 GiB on the connection and on stream 1
            windowUpdates.writeBytes([0, 0, 4, 0x8, 0, 0, 0, 0, stream, 0x40, 0, 0, 0])
        }
        try await client.writeAndFlush(windowUpdates)
        try await client.setOption(.autoRead, value: true).get()
        client.read()
        let deadline = ContinuousClock.now + .seconds(10)
        // Both ends: the client's count trails the upstream's by what is still in flight.
        while firehose.bytesStreamed < written + 8 * 1024 * 1024 || received.bytes <= 8 * 1024 * 1024,
              ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(firehose.bytesStreamed >= written + 8 * 1024 * 1024, "reading resumed the upstream")
        #expect(received.bytes > 8 * 1024 * 1024)
        try? await client.close()
        await proxy.stop()
    }

    /// HTTP/2 over TLS, chosen by ALPN `h2` (codec AUTO).
    @Test func http2OverTLSByALPN() async throws {
        let pki = try TestPKI()
        defer { pki.cleanUp() }
        let server = try pki.issue("backend", spiffe: TestPKI.backend)
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let tls = TLSTests.downstreamTLS(pki.commonTLS(server, trust: false, alpn: ["h2", "http/1.1"]), requireClient: false)
        let proxy = try await ProxyHarness.start(TLSTests.inbound(chains: [TLSTests.chain(tls: tls)], appPort: app.port))
        let client = try await H2Client.connect(port: proxy.port(), group: group, tls: try pki.clientContext(alpn: ["h2"]))
        let response = try await client.request(.GET, "/secure")
        #expect(response.status == 200 && response.body == "hello from app\n")
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_http2_total") == 1)
        // The client's close_notify closes the connection at once (NIO's client waits up to 5 s
        // for Skiff's).
        let closing = ContinuousClock.now
        await client.close()
        #expect(ContinuousClock.now - closing < .seconds(2))
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_http2_active") == 0)
        // Over TLS, and closed by the client with nothing in flight (Envoy's names).
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_ssl_total") == 1)
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_ssl_active") == 0)
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_destroy_remote") == 1)
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_destroy_local") == 0)
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_destroy_active_rq") == 0)
        await proxy.stop()
    }
}

/// Counts the bytes a raw client receives.
final class ByteCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let count = Mutex(0)
    var bytes: Int { count.withLock { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let size = unwrapInboundIn(data).readableBytes
        count.withLock { $0 += size }
    }
}

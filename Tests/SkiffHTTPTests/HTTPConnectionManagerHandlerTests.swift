import NIOCore
import NIOEmbedded
import NIOHTTP1
import SkiffCore
import SkiffHTTP
import SkiffUpstream
import Testing

/// The connection manager driven byte by byte through NIO's real HTTP/1.1 codec on an
/// `EmbeddedChannel`: no sockets, but every byte a client would see.
struct HTTPConnectionManagerHandlerTests {
    func makeChannel(routes: [Route], maxHeaderBytes: Int = 60 * 1024) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let worker = Worker(eventLoop: channel.eventLoop, index: 0)
        var config = HTTPConnectionManagerConfig(
            statPrefix: "test",
            routeTable: RouteTable(name: "t", virtualHosts: [VirtualHost(name: "all", domains: ["*"], routes: routes)])
        )
        config.maxRequestHeadersBytes = maxHeaderBytes
        try HTTPPipeline.configure(channel.pipeline.syncOperations, config: config, worker: worker)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func output(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            out += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return out
    }

    @Test func directResponseThenKeepAlive() throws {
        let channel = try makeChannel(routes: [
            Route(name: "r", match: RouteMatch(path: .prefix("/")), action: .directResponse(status: 200, body: "hi")),
        ])
        try send(channel, "GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        let first = try output(channel)
        #expect(first.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(first.contains("content-length: 2\r\n"))
        #expect(first.contains("server: envoy\r\n"))
        #expect(!first.contains("connection: close"))
        #expect(first.hasSuffix("\r\n\r\nhi"))
        try send(channel, "GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        #expect(try output(channel).hasPrefix("HTTP/1.1 200 OK"))
        #expect(channel.isActive)
    }

    @Test func noRouteIs404() throws {
        let channel = try makeChannel(routes: [
            Route(name: "r", match: RouteMatch(path: .prefix("/api")), action: .directResponse(status: 200, body: "")),
        ])
        try send(channel, "GET /nope HTTP/1.1\r\nhost: a\r\n\r\n")
        #expect(try output(channel).hasPrefix("HTTP/1.1 404 Not Found\r\n"))
    }

    @Test func missingClusterIs503() throws {
        let channel = try makeChannel(routes: [
            Route(name: "r", match: RouteMatch(path: .prefix("/")), action: .forward(ForwardAction(target: .single("ghost")))),
        ])
        try send(channel, "GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        #expect(try output(channel).hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
    }

    @Test func malformedRequestLineIs400AndCloses() throws {
        let channel = try makeChannel(routes: [])
        try? send(channel, "NOT HTTP AT ALL\r\n\r\n")
        let out = try output(channel)
        #expect(out.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(out.contains("connection: close"))
    }

    @Test func oversizedHeadersAre431() throws {
        let channel = try makeChannel(routes: [], maxHeaderBytes: 1024)
        try? send(channel, "GET / HTTP/1.1\r\nhost: a\r\nx-big: \(String(repeating: "z", count: 2000))\r\n\r\n")
        #expect(try output(channel).hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
    }

    @Test func contentLengthWithTransferEncodingIs400() throws {
        let channel = try makeChannel(routes: [
            Route(name: "r", match: RouteMatch(path: .prefix("/")), action: .directResponse(status: 200, body: "")),
        ])
        try? send(channel, "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(try output(channel).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }

    @Test func bytesFedOneAtATimeStillParse() throws {
        let channel = try makeChannel(routes: [
            Route(name: "r", match: RouteMatch(path: .prefix("/")), action: .directResponse(status: 204, body: "")),
        ])
        for byte in "GET / HTTP/1.1\r\nhost: a\r\n\r\n".utf8 {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try output(channel).hasPrefix("HTTP/1.1 204 No Content"))
    }
}

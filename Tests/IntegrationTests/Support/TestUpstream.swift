import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import Synchronization

/// A real HTTP/1.1 (or prior-knowledge h2c) upstream on 127.0.0.1 for integration tests, with
/// scriptable behaviour.
final class TestUpstream: Sendable {
    enum Behavior: Sendable {
        /// 200 with `hello from <name>` and `x-upstream: <name>`.
        case hello
        /// Like hello, after a delay.
        case delay(TimeAmount)
        /// Echo the request body back.
        case echo
        /// Close the connection as soon as a request head arrives.
        case reset
        /// Stream `bytes` of body as fast as the socket accepts, recording how much was written.
        case stream(bytes: Int)
        /// The first `count` requests (across connections) get `status`, later ones hello.
        case failFirst(Int, status: Int)
        /// The first `count` requests never get a response; later ones hello.
        case hangFirst(Int)
        /// The first `count` requests get `status`, later ones echo their body.
        case failFirstThenEcho(Int, status: Int)
        /// The first `count` requests get `status` at once, later ones hello after `delay`.
        case failFirstThenDelay(Int, status: Int, delay: TimeAmount)
        /// Requests with these 1-based numbers get `status` at once, the others hello after `delay`.
        case failNumbered(Set<Int>, status: Int, otherwiseDelay: TimeAmount)
        /// A long streaming response: `chunks` KiB of body, one KiB every `every`.
        case trickle(chunks: Int, every: TimeAmount)
    }

    let name: String
    let address: SocketAddress
    private let channel: any Channel
    let record = Mutex(Record())
    /// The status `/healthz` answers (health-check tests flip it).
    let healthStatus = Mutex(200)
    /// Requests other than `/healthz`.
    var trafficRequests: Int { record.withLock { $0.requests.filter { $0.uri != "/healthz" }.count } }

    struct Record: Sendable {
        var requests: [HTTPRequestHead] = []
        var connections = 0
        var bytesStreamed = 0
        /// h2c: the open connections' channels (to send GOAWAY), and streams served.
        var http2Connections: [any Channel] = []
        var streams = 0
        /// The highest stream each h2c connection has received, by connection.
        var lastStream: [ObjectIdentifier: Int] = [:]
    }

    var port: Int { address.port! }
    var requests: [HTTPRequestHead] { record.withLock { $0.requests } }
    var connections: Int { record.withLock { $0.connections } }
    var bytesStreamed: Int { record.withLock { $0.bytesStreamed } }

    private init(name: String, channel: any Channel) {
        self.name = name
        self.channel = channel
        self.address = channel.localAddress!
    }

    /// With `http2`, the upstream speaks prior-knowledge h2c (each stream served like an HTTP/1.1
    /// request, through NIO's codec), advertising `maxConcurrentStreams`.
    static func start(
        _ name: String, behavior: Behavior = .hello, group: any EventLoopGroup, http2: Bool = false, maxConcurrentStreams: Int = 100,
        host: String = "127.0.0.1"
    ) async throws -> TestUpstream {
        let box = Mutex<TestUpstream?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upstream = box.withLock { $0 }!
                    upstream.record.withLock { $0.connections += 1 }
                    guard http2 else {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(TestUpstreamHandler(upstream: upstream, behavior: behavior))
                        return
                    }
                    upstream.record.withLock { $0.http2Connections.append(channel) }
                    var settings = NIOHTTP2Handler.ConnectionConfiguration()
                    settings.initialSettings = [HTTP2Setting(parameter: .maxConcurrentStreams, value: maxConcurrentStreams)]
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: settings, streamConfiguration: .init()
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            let id = (try? stream.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)).map { Int($0) } ?? 0
                            upstream.record.withLock {
                                $0.streams += 1
                                $0.lastStream[ObjectIdentifier(channel), default: 0] = max($0.lastStream[ObjectIdentifier(channel)] ?? 0, id)
                            }
                            try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                            try stream.pipeline.syncOperations.addHandler(TestUpstreamHandler(upstream: upstream, behavior: behavior))
                        }
                    }
                }
            }
            .bind(host: host, port: 0)
            .get()
        let upstream = TestUpstream(name: name, channel: channel)
        box.withLock { $0 = upstream }
        return upstream
    }

    func close() async {
        try? await channel.close()
    }

    /// h2c: GOAWAY on every open connection, letting streams up to `lastStreamID` finish — by
    /// default the last stream the connection received, as servers shutting down gracefully do —
    /// and refusing later ones.
    func sendGoAway(lastStreamID: HTTP2StreamID? = nil) {
        for connection in record.withLock({ $0.http2Connections }) {
            let received = record.withLock { $0.lastStream[ObjectIdentifier(connection)] ?? 0 }
            let last = lastStreamID ?? HTTP2StreamID(received)
            let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: last, errorCode: .noError, opaqueData: nil))
            connection.writeAndFlush(frame, promise: nil)
        }
        record.withLock { $0.http2Connections.removeAll() }
    }

    var streams: Int { record.withLock { $0.streams } }
}

private final class TestUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let upstream: TestUpstream
    let behavior: TestUpstream.Behavior
    var head: HTTPRequestHead?
    var body: ByteBuffer?
    var remaining = 0

    init(upstream: TestUpstream, behavior: TestUpstream.Behavior) {
        self.upstream = upstream
        self.behavior = behavior
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            upstream.record.withLock { $0.requests.append(head) }
            if case .reset = behavior {
                context.close(promise: nil)
            }
        case .body(var buffer):
            if body == nil { body = buffer } else { body!.writeBuffer(&buffer) }
        case .end:
            if head?.uri == "/healthz" {
                sendStatus(context: context, status: upstream.healthStatus.withLock { $0 })
                return
            }
            let number = upstream.record.withLock { $0.requests.filter { $0.uri != "/healthz" }.count }
            switch behavior {
            case .failFirst(let count, let status) where number <= count:
                sendStatus(context: context, status: status)
            case .failNumbered(let numbers, let status, let delay):
                if numbers.contains(number) {
                    sendStatus(context: context, status: status)
                } else {
                    context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                        self.send(context: context, body: "hello from \(self.upstream.name)\n")
                    }
                }
            case .failFirstThenDelay(let count, let status, let delay):
                if number <= count {
                    sendStatus(context: context, status: status)
                } else {
                    context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                        self.send(context: context, body: "hello from \(self.upstream.name)\n")
                    }
                }
            case .failFirstThenEcho(let count, let status):
                if number <= count {
                    body = nil
                    sendStatus(context: context, status: status)
                } else {
                    echo(context: context)
                }
            case .hangFirst(let count) where number <= count:
                break
            default:
                respond(context: context)
            }
        }
    }

    func sendStatus(context: ChannelHandlerContext, status: Int) {
        var headers = HTTPHeaders()
        let text = "failure from \(upstream.name)\n"
        headers.add(name: "content-length", value: String(text.utf8.count))
        headers.add(name: "x-upstream", value: upstream.name)
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func respond(context: ChannelHandlerContext) {
        switch behavior {
        case .hello:
            send(context: context, body: "hello from \(upstream.name)\n")
        case .delay(let amount):
            context.eventLoop.assumeIsolated().scheduleTask(in: amount) {
                self.send(context: context, body: "hello from \(self.upstream.name)\n")
            }
        case .echo, .failFirstThenEcho:
            echo(context: context)
        case .reset:
            break
        case .failFirst, .hangFirst, .failFirstThenDelay, .failNumbered:
            send(context: context, body: "hello from \(upstream.name)\n")
        case .stream(let bytes):
            streamBody(context: context, bytes: bytes)
        case .trickle(let chunks, let every):
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: String(chunks * 1024))
            headers.add(name: "x-upstream", value: upstream.name)
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            trickle(context: context, left: chunks, every: every)
        }
    }

    func trickle(context: ChannelHandlerContext, left: Int, every: TimeAmount) {
        guard left > 0 else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: every) {
            let chunk = context.channel.allocator.buffer(repeating: UInt8(ascii: "t"), count: 1024)
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil)
            self.upstream.record.withLock { $0.bytesStreamed += 1024 }
            self.trickle(context: context, left: left - 1, every: every)
        }
    }

    func echo(context: ChannelHandlerContext) {
        let buffer = body ?? context.channel.allocator.buffer(capacity: 0)
        body = nil
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(buffer.readableBytes))
        headers.add(name: "x-upstream", value: upstream.name)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func streamBody(context: ChannelHandlerContext, bytes: Int) {
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(bytes))
        headers.add(name: "x-upstream", value: upstream.name)
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        remaining = bytes
        pump(context: context)
    }

    /// Writes 64 KiB chunks while the socket is writable; resumes on writability.
    func pump(context: ChannelHandlerContext) {
        let chunk = 64 * 1024
        while remaining > 0 && context.channel.isWritable {
            let size = min(chunk, remaining)
            remaining -= size
            let buffer = context.channel.allocator.buffer(repeating: UInt8(ascii: "x"), count: size)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            upstream.record.withLock { $0.bytesStreamed += size }
        }
        if remaining == 0 {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            remaining = -1
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if remaining > 0 && context.channel.isWritable {
            pump(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func send(context: ChannelHandlerContext, body: String) {
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-upstream", value: upstream.name)
        headers.add(name: "content-type", value: "text/plain")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

@available(*, unavailable)
extension TestUpstreamHandler: Sendable {}

import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// A small, fast HTTP/1.1 application for the demo and the benchmarks: answers every request with
/// `200 hello from <name>` and an `x-upstream` header naming itself, after reading (and counting)
/// any request body. Keep-alive, no allocation beyond NIO's own per request. With `http2` it
/// speaks prior-knowledge h2c instead (one handler per stream), for the HTTP/2 benchmark.
public final class BuiltinUpstream: Sendable {
    public let name: String
    public let address: SocketAddress
    private let channel: any Channel

    private init(name: String, channel: any Channel) {
        self.name = name
        self.channel = channel
        self.address = channel.localAddress!
    }

    public static func start(
        name: String, host: String = "127.0.0.1", port: Int = 0, bodyBytes: Int? = nil, failing: Bool = false,
        http2: Bool = false, group: any EventLoopGroup
    ) async throws -> BuiltinUpstream {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    guard http2 else {
                        try sync.configureHTTPServerPipeline()
                        try sync.addHandler(HelloHandler(name: name, bodyBytes: bodyBytes, failing: failing))
                        return
                    }
                    _ = try sync.configureHTTP2Pipeline(mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandlers([
                                HTTP2FramePayloadToHTTP1ServerCodec(),
                                HelloHandler(name: name, bodyBytes: bodyBytes, failing: failing),
                            ])
                        }
                    }
                }
            }
            .bind(host: host, port: port)
            .get()
        return BuiltinUpstream(name: name, channel: channel)
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Answers each request once its body has been read.
private final class HelloHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let body: ByteBuffer
    private let name: String
    private var keepAlive = true
    private var version = HTTPVersion.http1_1
    /// The caller's identity as the sidecar in front reported it (`URI=` of the last
    /// `x-forwarded-client-cert` element), echoed as `x-peer-identity`.
    private var peer: String?

    /// A broken deploy: every request gets 503 (the demo's bad v2 pod).
    private let failing: Bool

    init(name: String, bodyBytes: Int?, failing: Bool) {
        self.failing = failing
        self.name = name
        if let bodyBytes {
            self.body = ByteBuffer(repeating: UInt8(ascii: "x"), count: bodyBytes)
        } else {
            self.body = ByteBuffer(string: "hello from \(name)\n")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            version = head.version
            peer = head.headers.first(name: "x-forwarded-client-cert").flatMap { xfcc in
                xfcc.split(separator: ",").last?.split(separator: ";").first { $0.hasPrefix("URI=") }.map { String($0.dropFirst(4)) }
            }
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/plain")
            headers.add(name: "content-length", value: String(body.readableBytes))
            headers.add(name: "x-upstream", value: name)
            if let peer { headers.add(name: "x-peer-identity", value: peer) }
            if !keepAlive { headers.add(name: "connection", value: "close") }
            let status: HTTPResponseStatus = failing ? .serviceUnavailable : .ok
            let payload = failing ? ByteBuffer(string: "\(name) is broken\n") : body
            headers.replaceOrAdd(name: "content-length", value: String(payload.readableBytes))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
            if keepAlive {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        }
    }
}

@available(*, unavailable)
extension HelloHandler: Sendable {}

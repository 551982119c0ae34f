import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A real HTTP/2 client for integration tests: one connection (prior-knowledge h2c, or TLS with
/// ALPN `h2`), many concurrent streams, each an HTTP/1-shaped request through NIO's codec.
final class H2Client: Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var trailers: HTTPHeaders?
    }

    let channel: any Channel
    private let multiplexer: NIOLoopBound<NIOHTTP2Handler.StreamMultiplexer>
    let scheme: HTTP2FramePayloadToHTTP1ClientCodec.HTTPProtocol

    private init(channel: any Channel, multiplexer: NIOLoopBound<NIOHTTP2Handler.StreamMultiplexer>, tls: Bool) {
        self.channel = channel
        self.multiplexer = multiplexer
        self.scheme = tls ? .https : .http
    }

    static func connect(port: Int, group: any EventLoopGroup, tls: NIOSSLContext? = nil, serverName: String? = nil) async throws -> H2Client {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let multiplexer = try await channel.eventLoop.submit {
            let mux = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
            ) { $0.eventLoop.makeSucceededVoidFuture() }
            return NIOLoopBound(mux, eventLoop: channel.eventLoop)
        }.get()
        return H2Client(channel: channel, multiplexer: multiplexer, tls: tls != nil)
    }

    /// One request on a new stream; `body` chunks are sent as separate DATA frames.
    func request(
        _ method: HTTPMethod = .GET, _ path: String, authority: String = "example.com", headers: [(String, String)] = [],
        body: [String] = [], trailers: HTTPHeaders? = nil
    ) async throws -> Response {
        let loop = channel.eventLoop
        let done = loop.makePromise(of: Response.self)
        let scheme = self.scheme
        let multiplexer = self.multiplexer
        try await loop.flatSubmit {
            let created = loop.makePromise(of: (any Channel).self)
            multiplexer.value.createStreamChannel(promise: created) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: scheme))
                    try stream.pipeline.syncOperations.addHandler(ResponseCollector(done: done))
                }
            }
            return created.futureResult.flatMap { stream in
                var head = HTTPRequestHead(version: .http2, method: method, uri: path)
                head.headers.add(name: "host", value: authority)
                for (name, value) in headers { head.headers.add(name: name, value: value) }
                stream.write(HTTPClientRequestPart.head(head), promise: nil)
                for chunk in body {
                    stream.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: chunk))), promise: nil)
                }
                return stream.writeAndFlush(HTTPClientRequestPart.end(trailers))
            }
        }.get()
        return try await done.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let done: EventLoopPromise<H2Client.Response>
    var response = H2Client.Response(status: 0, headers: [:], body: "", trailers: nil)

    init(done: EventLoopPromise<H2Client.Response>) { self.done = done }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response.status = Int(head.status.code)
            response.headers = head.headers
        case .body(let buffer):
            response.body += String(buffer: buffer)
        case .end(let trailers):
            response.trailers = trailers
            done.succeed(response)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}

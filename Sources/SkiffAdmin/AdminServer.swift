import NIOCore
import NIOHTTP1
import NIOPosix
import SkiffCore

/// Envoy's admin HTTP endpoint on `admin.address` (control plane, async/await).
///
/// Each connection is served by a child task; a request's response is computed by `AdminRouter`
/// and written back. Bodies of admin requests are ignored (none of the endpoints take one).
public final class AdminServer: Sendable {
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let backend: any AdminBackend
    /// The address actually bound.
    public let address: SocketAddress
    /// `listener.admin.*` and `http.admin.*`.
    public let stats: AdminStats

    private init(
        channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>, backend: any AdminBackend,
        stats: AdminStats
    ) {
        self.channel = channel
        self.backend = backend
        self.stats = stats
        self.address = channel.channel.localAddress!
    }

    public static func bind(
        host: String, port: Int, group: any EventLoopGroup, backend: any AdminBackend, stats: AdminStats = AdminStats()
    ) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(AdminByteCounter(stats: stats))
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: child
                    )
                }
            }
        return AdminServer(channel: channel, backend: backend, stats: stats)
    }

    /// Serves until the task is cancelled or `close()` is called.
    public func run() async {
        await withDiscardingTaskGroup { group in
            do {
                try await channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            } catch {
                // The listening socket closed: stop serving.
            }
        }
    }

    public func close() async {
        try? await channel.channel.close()
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let opened = ContinuousClock.now
        stats.connectionOpened()
        var closedLocally = false
        defer { stats.connectionClosed(local: closedLocally, lengthMillis: Self.millis(since: opened)) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var started = opened
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        started = ContinuousClock.now
                        stats.requestStarted()
                    case .body:
                        break
                    case .end:
                        guard let request = head else { continue }
                        // Envoy streams a `/stats` page after its head: the page counts its own 200.
                        let streamsAfterHead = Self.isTextStatsPage(request)
                        if streamsAfterHead { stats.responseStarted(status: 200) }
                        let response = await AdminRouter.handle(method: request.method.rawValue, uri: request.uri, backend: backend)
                        if !streamsAfterHead { stats.responseStarted(status: response.status) }
                        var headers = HTTPHeaders()
                        headers.add(name: "content-type", value: response.contentType)
                        headers.add(name: "content-length", value: String(response.body.utf8.count))
                        headers.add(name: "cache-control", value: "no-cache, max-age=0")
                        headers.add(name: "x-content-type-options", value: "nosniff")
                        if !request.isKeepAlive {
                            headers.add(name: "connection", value: "close")
                        }
                        try await outbound.write(.head(HTTPResponseHead(
                            version: request.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers
                        )))
                        if request.method != .HEAD {
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: response.body))))
                        }
                        try await outbound.write(.end(nil))
                        stats.requestFinished(millis: Self.millis(since: started))
                        head = nil
                        if !request.isKeepAlive {
                            closedLocally = true
                            return
                        }
                    }
                }
            }
        } catch {
            // A broken admin connection only affects itself.
        }
    }

    /// `GET /stats` in text (Envoy's streamed page; its JSON and Prometheus forms are not).
    static func isTextStatsPage(_ request: HTTPRequestHead) -> Bool {
        guard request.method == .GET, request.uri == "/stats" || request.uri.hasPrefix("/stats?") else { return false }
        return !request.uri.contains("format=")
    }

    static func millis(since start: ContinuousClock.Instant) -> UInt64 {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000 / 1000
        return UInt64(max(0, seconds)) * 1000 + UInt64(max(0, attoseconds) / attosecondsPerMillisecond)
    }
}

/// Counts the admin connection's bytes as they cross the socket (`downstream_cx_rx_bytes_total`,
/// `downstream_cx_tx_bytes_total`).
final class AdminByteCounter: ChannelDuplexHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    let stats: AdminStats

    init(stats: AdminStats) {
        self.stats = stats
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        stats.bytesRead(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        stats.bytesWritten(unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }
}

import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffTelemetry
import SkiffTLS
import SkiffUpstream

/// The connection manager of one downstream HTTP/1.1 connection, or of one HTTP/2 stream
/// (`envoy.filters.network.http_connection_manager`).
///
/// On HTTP/2 each stream is a child channel whose codec turns frames into the same request and
/// response parts, so one manager serves both: it then handles exactly one request, leaves the
/// connection's stats, idle timeout and drain to `HTTP2ConnectionHandler`, and closing it resets
/// only its stream.
///
/// It owns the connection's lifecycle (`HTTP1ConnectionStateMachine`), its timers (idle,
/// request headers, request), protocol errors (400 / 431 and close), downstream back-pressure, and
/// hands each request to a `RouterStream`, which does routing and the upstream exchange. Everything
/// runs on the connection's event loop.
public final class HTTPConnectionManagerHandler: ChannelDuplexHandler, RemovableChannelHandler, HTTPDrainable {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    let config: HTTPConnectionManagerConfig
    let worker: Worker
    let stats: StatsScope
    /// `listener.<address>.http.<prefix>.*`: the response counters again, per listener.
    private let listenerStats: StatsScope?
    private var machine: HTTP1ConnectionStateMachine
    private var context: ChannelHandlerContext?
    private var stream: RouterStream?
    var remoteIP: String?
    var remotePort: Int?
    var localIP: String?
    var localPort: Int?
    /// The restored original destination (`original_dst`), which an `ORIGINAL_DST` cluster needs.
    var originalDestination: SocketAddress?
    /// The downstream TLS session (nil: plaintext): the peer's identity for RBAC.
    public var tlsSession: TLSSession?
    private var reads = ReadGate()
    /// `idle_timeout`: no stream for this long closes the connection.
    private var connectionIdle: IdleTimer?
    /// `stream_idle_timeout`: the active stream moved nothing for this long.
    private var streamIdle: IdleTimer?
    private var requestTimer: Scheduled<Void>?
    /// `request_headers_timeout`: armed by the first byte of a request, disarmed by its head.
    private var headersTimer: Scheduled<Void>?
    /// True between requests: the next bytes start a request (read by `RequestStartObserver`).
    private(set) var awaitingRequestStart = true
    private var responseInProgress = false

    /// The worker's slot for `rds.route_config_name`, when routes come from the control plane.
    private let routeSlot: RouteSlot?
    /// Set once a listener update or removal asked this connection to drain.
    private var drainClose: Scheduled<Void>?

    /// Serving one HTTP/2 stream (not a whole connection).
    let isHTTP2Stream: Bool
    /// Who ended the connection first, for Envoy's `downstream_cx_destroy_local` / `_remote`:
    /// true when this manager decided (a timeout, `connection: close`, a protocol error, a
    /// drain), false when the client did (FIN, reset, TLS close); nil — a close nobody here
    /// asked for — counts as the client's.
    private var closedLocally: Bool?

    public init(config: HTTPConnectionManagerConfig, worker: Worker, http2Stream: Bool = false) {
        self.config = config
        self.worker = worker
        self.isHTTP2Stream = http2Stream
        self.routeSlot = config.rdsName.map { worker.routes.slot(named: $0) }
        self.stats = worker.stats.http(config.statPrefix)
        self.listenerStats = config.listenerStatScope.map { worker.stats.scope(.listenerHTTP, $0) }
        self.machine = HTTP1ConnectionStateMachine(maxRequestsPerConnection: http2Stream ? 1 : config.maxRequestsPerConnection)
    }

    /// The route table for the next request: the RDS slot's current table, or the inline one.
    var currentRouteTable: RouteTable {
        routeSlot?.table ?? config.routeTable
    }

    /// The listener changed or went away: no new requests after the current one (its response
    /// says `connection: close`), and the connection closes by `deadline` whatever it is doing.
    ///
    /// An idle connection closes after the connection manager's drain timeout (Envoy's
    /// `drain_timeout`, 5 s) unless a request arrives first, which is answered with
    /// `connection: close`: closing at once would race a client's next request.
    public func startDrain(closeAt deadline: NIODeadline) {
        guard let context, drainClose == nil else { return }
        machine.closeRequested()
        let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
        drainClose = loop.scheduleTask(deadline: deadline) { [weak self] in
            self?.closeConnection()
        }
        let idleClose = min(deadline, .now() + Self.drainTimeout)
        loop.scheduleTask(deadline: idleClose) { [weak self] in
            guard let self, self.machine.state == .idle else { return }
            self.stats.increment(HTTPStat.cxDrainClose)
            self.closeConnection()
        }
    }

    /// Envoy's HCM `drain_timeout` default.
    static let drainTimeout = TimeAmount.seconds(5)

    var downstreamInfo: HeaderTransforms.DownstreamInfo {
        var info = HeaderTransforms.DownstreamInfo(
            remoteIP: remoteIP, useRemoteAddress: config.useRemoteAddress,
            skipXFFAppend: config.skipXFFAppend, generateRequestID: config.generateRequestID
        )
        info.forwardClientCert = config.forwardClientCert
        if let tlsSession {
            info.isTLS = true
            if config.forwardClientCert != .sanitize {
                info.clientCert = tlsSession.forwardedClientCert(config.clientCertFields)
            }
        }
        return info
    }

    // MARK: Connection lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // An HTTP/2 stream's addresses are its connection's; an accepted TCP channel's parent is
        // the listening socket, which has no peer.
        let socket = isHTTP2Stream ? (context.channel.parent ?? context.channel) : context.channel
        remoteIP = socket.remoteAddress?.ipAddress
        remotePort = socket.remoteAddress?.port
        // Where the client sent the connection: its original destination when redirected.
        let local = worker.localAddress(of: socket)
        originalDestination = worker.originalDestinations.isEmpty ? nil : worker.originalDestinations[ObjectIdentifier(socket)]
        localIP = local?.ipAddress
        localPort = local?.port
        if isHTTP2Stream {
            // The connection's counters, idle timeout and drain belong to HTTP2ConnectionHandler.
            if let timeout = config.streamIdleTimeout {
                streamIdle = IdleTimer(eventLoop: context.eventLoop, timeout: timeout) { [unowned self] in
                    self.stream?.streamIdleTimedOut()
                }
            }
            return
        }
        connectionStartedAt = ContinuousClockReading.now()
        stats.increment(HTTPStat.cxTotal)
        stats.increment(HTTPStat.cxHTTP1Total)
        stats.adjust(HTTPStat.cxActive, by: 1)
        stats.adjust(HTTPStat.cxHTTP1Active, by: 1)
        if tlsSession != nil {
            stats.increment(HTTPStat.cxSSLTotal)
            stats.adjust(HTTPStat.cxSSLActive, by: 1)
        }
        if let timeout = config.idleTimeout {
            connectionIdle = IdleTimer(eventLoop: context.eventLoop, timeout: timeout) { [unowned self] in
                self.connectionIdleTimedOut()
            }
            connectionIdle?.resume()
        }
        if let timeout = config.streamIdleTimeout {
            streamIdle = IdleTimer(eventLoop: context.eventLoop, timeout: timeout) { [unowned self] in
                self.streamIdleExpired()
            }
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// The client ended the connection (unless this side already had).
    private func clientClosed() {
        if closedLocally == nil { closedLocally = false }
    }

    /// Closes the connection on this manager's decision (unless the client closed it first).
    private func closeConnection(_ context: ChannelHandlerContext? = nil, mode: CloseMode = .all) {
        if closedLocally == nil { closedLocally = true }
        (context ?? self.context)?.close(mode: mode, promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        machine.closed()
        cancelTimers()
        if upgraded {
            stats.adjust(HTTPStat.cxUpgradesActive, by: -1)
        }
        if !isHTTP2Stream {
            HTTPStat.countDestroy(in: stats, local: closedLocally == true, activeRequest: stream != nil)
            stats.adjust(HTTPStat.cxActive, by: -1)
            stats.adjust(HTTPStat.cxHTTP1Active, by: -1)
            if tlsSession != nil { stats.adjust(HTTPStat.cxSSLActive, by: -1) }
            stats.increment(HTTPStat.cxDestroy)
            stats.record(HTTPStat.cxLength, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- connectionStartedAt))
        }
        if let stream = detachStream() {
            stats.increment(HTTPStat.rqRxReset)
            stream.downstreamReset()
            logFinished(stream, flag: .downstreamConnectionTermination)
        }
        context.fireChannelInactive()
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            receivedHead(head)
        case .body(let buffer):
            if let stream {
                stream.downstreamBody(buffer)
            } else {
                discardRequestBody(buffer.readableBytes)
            }
        case .end(let trailers):
            requestTimer?.cancel()
            requestTimer = nil
            let action = machine.requestEnd()
            stream?.downstreamEnd(trailers)
            perform(action)
        }
    }

    /// The response already ended; the rest of this request's body is read and dropped, up to a
    /// bound, so the connection can carry the next request.
    private func discardRequestBody(_ bytes: Int) {
        discardedBytes += bytes
        if discardedBytes > Self.maxDiscardedBody {
            machine.closeRequested()
            closeConnection()
        }
    }

    /// The most request body dropped after an early response before the connection is closed.
    static let maxDiscardedBody = 1024 * 1024
    private var discardedBytes = 0

    private func receivedHead(_ head: HTTPRequestHead) {
        discardedBytes = 0
        connectionIdle?.suspend()
        awaitingRequestStart = false
        headersTimer?.cancel()
        headersTimer = nil
        guard machine.requestHead(requestKeepAlive: head.isKeepAlive) == .startStream else { return }
        if worker.drainClose, !isHTTP2Stream {
            machine.closeRequested()
        }
        requestStartedAt = ContinuousClockReading.now()
        stats.increment(HTTPStat.rqTotal)
        stats.increment(isHTTP2Stream ? HTTPStat.rqHTTP2Total : HTTPStat.rqHTTP1Total)
        if !isHTTP2Stream, let max = config.maxRequestsPerConnection, machine.requestCount == max {
            stats.increment(HTTPStat.cxMaxRequestsReached)
        }
        if !isHTTP2Stream, HTTPUpgrade.endsHTTP(head) {
            // The decoder reads nothing after this request: unless it becomes a tunnel, the
            // connection closes after the response.
            machine.closeRequested()
        }
        if head.headers.contains(name: "content-length") && head.headers.contains(name: "transfer-encoding") {
            // RFC 9112 §6.1: a request with both is a smuggling vector; Envoy rejects it with 400.
            protocolError(status: 400, body: "Bad Request")
            return
        }
        if let timeout = config.requestTimeout, let context {
            requestTimer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [unowned self] in
                self.requestTimedOut()
            }
        }
        let stream = RouterStream(connection: self, request: head)
        self.stream = stream
        stats.adjust(HTTPStat.rqActive, by: 1)
        if let timeout = config.streamIdleTimeout {
            streamIdle?.retime(timeout)
            streamIdle?.resume()
        }
        stream.start()
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        stream?.flushUpstream()
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The client closed its side: as in Envoy, that ends the connection, and a request
            // still in flight is reset (upstream too) rather than answered — measured on Envoy
            // 1.40 with a FIN after a request: no response, the upstream request cancelled.
            machine.closeRequested()
            clientClosed()
            closeConnection(context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if lingering { return }  // Input after the error is dropped by the decoder; ignore it.
        // A socket error (a reset peer): NIO closes the channel itself right after this, and
        // closing through the pipeline first would only have TLS write a close_notify into the
        // dead socket (an EPIPE per reset connection). `channelInactive` does the bookkeeping.
        if error is IOError {
            clientClosed()
            return
        }
        guard let parserError = error as? HTTPParserError else {
            // A transport failure the peer caused (an unclean TLS shutdown, an alert).
            clientClosed()
            closeConnection(context)
            return
        }
        // The decoder closes the channel right after this returns: reply synchronously.
        if parserError == .headerOverflow {
            stats.increment(HTTPStat.rqTooLarge)
            protocolError(status: 431, body: "Request Header Fields Too Large")
        } else {
            protocolError(status: 400, body: "Bad Request")
        }
    }

    /// Answers a malformed request with `status` and closes the connection.
    private func protocolError(status: Int, body: String) {
        stats.increment(HTTPStat.cxProtocolError)
        // Envoy resets the request the codec rejected, and counts it (measured on 1.40).
        stats.increment(HTTPStat.rqRxReset)
        machine.closeRequested()
        detachStream()?.downstreamReset()
        closeWithLocalReply(LocalReply(status: status, flag: .downstreamProtocolError, body: body))
    }

    // MARK: Back-pressure

    public func read(context: ChannelHandlerContext) {
        if reads.admit() { context.read() }
    }

    /// Stops or resumes reading from the downstream socket (upstream back-pressure).
    func setHoldReads(_ hold: Bool) {
        if reads.set(held: hold) { context?.read() }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        stream?.downstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: Writing responses (called by RouterStream)

    /// Whether the response about to start keeps the connection open.
    func responseStarting() -> Bool {
        responseInProgress = true
        return machine.responseStarting()
    }

    func writeResponseHead(_ head: HTTPResponseHead) {
        stats.recordResponse(code: Int(head.status.code))
        listenerStats?.recordResponse(code: Int(head.status.code))
        stream?.logResponseHead(head)
        var head = head
        if isHTTP2Stream, head.headers.contains(name: "grpc-status") {
            // A gRPC "Trailers-Only" response (a status and no messages: errors, Skiff's own
            // replies). NIO's codec cannot end a stream on its first HEADERS frame, so the status
            // goes out as trailers after a minimal HEADERS frame, which gRPC clients read the same.
            let split = GRPCMessage.splitTrailersOnly(head.headers)
            head.headers = split.headers
            deferredTrailers = split.trailers
        }
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
        unflushed = true
    }

    /// The status of a Trailers-Only gRPC response, sent with the end of the stream.
    private var deferredTrailers: HTTPHeaders?

    /// Unflushed: the upstream's read burst ends with `flushResponse`, so a response that
    /// arrives in one read leaves in one write (a syscall per body part otherwise, and over
    /// HTTP/2 a flush of the whole connection per part).
    func writeResponseBody(_ buffer: ByteBuffer) {
        guard let context else { return }
        stream?.log?.bytesSent += buffer.readableBytes
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        unflushed = true
    }

    private var unflushed = false

    /// Monotonic nanoseconds when the connection (HTTP/1.1) and the current request started, for
    /// `downstream_cx_length_ms` and `downstream_rq_time`.
    private var connectionStartedAt: UInt64 = 0
    private var requestStartedAt: UInt64 = 0

    private func recordRequestTime() {
        guard requestStartedAt != 0 else { return }
        stats.record(HTTPStat.rqTime, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- requestStartedAt))
        requestStartedAt = 0
    }

    func flushResponse() {
        guard unflushed else { return }
        unflushed = false
        context?.flush()
    }

    /// Ends the response and the stream; the connection goes idle or closes.
    func writeResponseEnd(_ trailers: HTTPHeaders?) {
        guard let context else { return }
        var trailers = trailers
        if let deferred = deferredTrailers {
            deferredTrailers = nil
            var merged = deferred
            if let trailers { merged.add(contentsOf: trailers) }
            trailers = merged
        }
        responseInProgress = false
        unflushed = false
        if let finished = detachStream() {
            finished.log?.responseTrailers = trailers
            logFinished(finished)
        }
        stats.increment(HTTPStat.rqCompleted)
        listenerStats?.increment(ListenerHTTPStat.rqCompleted)
        recordRequestTime()
        let action = machine.responseEnd()
        if action == .closeAfterFlush {
            requestTimer?.cancel()
            context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                self.closeConnection(context)
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
            perform(action)
        }
    }

    /// Sends a complete locally generated response for the current stream (route miss, upstream
    /// failure, timeout) and ends the stream.
    func sendLocalReply(_ reply: LocalReply, version: HTTPVersion, mutations: [HeaderMutations] = [], grpc: Bool = false) {
        stream?.log?.responseFlags.append(reply.flag)
        let keepAlive = responseStarting()
        writeLocalReplyHead(reply, version: version, keepAlive: keepAlive, mutations: mutations, grpc: grpc)
        writeResponseEnd(nil)
    }

    /// Sends a local reply outside any stream (protocol error, request timeout) and closes.
    ///
    /// The close lingers: the output is shut down after the reply (FIN), and input is read and
    /// dropped for up to `lingerTime`, because closing a socket with unread input makes the kernel
    /// send RST, which can destroy the reply before the client reads it.
    private func closeWithLocalReply(_ reply: LocalReply) {
        guard let context, !lingering else { return }
        lingering = true
        let flushed = context.eventLoop.makePromise(of: Void.self)
        if !responseInProgress {
            writeLocalReplyHead(reply, version: .http1_1, keepAlive: false)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: flushed)
        } else {
            context.flush()
            flushed.succeed()
        }
        responseInProgress = false
        reads.set(held: false)  // It reads below.
        flushed.futureResult.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            self.closeConnection(context, mode: .output)
        }
        context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: Self.lingerTime) {
            self.closeConnection(context)
        }
        context.read()
    }

    /// How long a connection closed for a protocol error keeps draining input.
    static let lingerTime: TimeAmount = .seconds(1)
    private var lingering = false

    private func writeLocalReplyHead(
        _ reply: LocalReply, version: HTTPVersion, keepAlive: Bool, mutations: [HeaderMutations] = [], grpc: Bool = false
    ) {
        var headers = HTTPHeaders()
        var body = reply.body
        var status = reply.status
        if grpc {
            // Trailers-only gRPC response: the status travels in the headers, no body.
            headers.add(name: "content-type", value: "application/grpc")
            headers.add(name: "grpc-status", value: String(reply.effectiveGRPCStatus))
            if !body.isEmpty { headers.add(name: "grpc-message", value: GRPCMessage.percentEncoded(body)) }
            headers.add(name: "content-length", value: "0")
            body = ""
            status = 200
        } else {
            headers.add(name: "content-length", value: String(body.utf8.count))
            if !body.isEmpty {
                headers.add(name: "content-type", value: "text/plain")
            }
        }
        headers.add(name: "date", value: worker.date.current())
        headers.add(name: "server", value: config.serverName)
        if reply.flag == .upstreamOverflow {
            // Circuit breaker open: Envoy tells the caller it was shed, not failed.
            headers.add(name: "x-envoy-overloaded", value: "true")
        }
        for mutation in mutations {
            HeaderTransforms.apply(mutation, to: &headers)
        }
        if !keepAlive {
            headers.add(name: "connection", value: "close")
        }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        writeResponseHead(head)
        if !body.isEmpty, let context {
            let buffer = context.channel.allocator.buffer(string: body)
            stream?.log?.bytesSent += buffer.readableBytes
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
    }

    /// The upstream accepted the request's upgrade: `head` (the 101) goes out through the HTTP
    /// codec, then `tunnel` is placed ahead of the codec and carries raw bytes both ways until
    /// either side closes. This manager stays behind it for the connection's bookkeeping;
    /// `stream_idle_timeout` keeps running on the tunnel's traffic.
    func switchToTunnel(_ head: HTTPResponseHead, tunnel: ByteRelayEnd) -> Bool {
        guard let context, !isHTTP2Stream else { return false }
        writeResponseHead(head)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        responseInProgress = false
        stats.increment(HTTPStat.rqCompleted)
        listenerStats?.increment(ListenerHTTPStat.rqCompleted)
        recordRequestTime()
        stats.increment(HTTPStat.cxUpgradesTotal)
        stats.adjust(HTTPStat.cxUpgradesActive, by: 1)
        upgraded = true
        let idle = streamIdle
        detachStream()
        idle?.resume()
        requestTimer?.cancel()
        requestTimer = nil
        if reads.set(held: false) { context.read() }
        do {
            let sync = context.pipeline.syncOperations
            try sync.addHandler(tunnel, position: .before(try sync.handler(type: HTTPResponseEncoder.self)))
            return true
        } catch {
            self.closeConnection(context)
            return false
        }
    }

    /// Carrying an upgraded protocol (`switchToTunnel`).
    private var upgraded = false

    /// The tunnel moved bytes (`stream_idle_timeout`).
    func tunnelActivity() {
        streamIdle?.touch()
    }

    /// `stream_idle_timeout` expired: the stream's, or the tunnel's, which just closes.
    private func streamIdleExpired() {
        if upgraded {
            stats.increment(HTTPStat.rqIdleTimeout)
            closeConnection()
        } else {
            stream?.streamIdleTimedOut()
        }
    }

    /// Closes the connection at once (a response already started and cannot be completed).
    func resetConnection() {
        if let stream = detachStream() {
            logFinished(stream, flag: .upstreamConnectionTermination)
        }
        machine.closeRequested()
        closeConnection()
    }

    /// The route's `idle_timeout` replaces `stream_idle_timeout` for the current stream (nil
    /// disables it).
    func overrideStreamIdleTimeout(_ timeout: TimeAmount?) {
        guard let timeout else {
            streamIdle?.suspend()
            return
        }
        if let streamIdle {
            streamIdle.retime(timeout)
        } else if let context {
            streamIdle = IdleTimer(eventLoop: context.eventLoop, timeout: timeout) { [unowned self] in
                self.streamIdleExpired()
            }
        }
        streamIdle?.resume()
    }

    /// Something moved on the active stream (`stream_idle_timeout`).
    @inline(__always)
    func streamActivity() {
        streamIdle?.touch()
    }

    @discardableResult
    private func detachStream() -> RouterStream? {
        guard let current = stream else { return nil }
        stream = nil
        streamIdle?.suspend()
        stats.adjust(HTTPStat.rqActive, by: -1)
        return current
    }

    // MARK: Timers

    private func perform(_ action: HTTP1ConnectionStateMachine.Action) {
        switch action {
        case .none, .startStream:
            break
        case .becomeIdle:
            connectionIdle?.resume()
            awaitingRequestStart = true
        case .closeAfterFlush:
            closeConnection()
        }
    }

    /// The first bytes of a new request arrived: start `request_headers_timeout`. On expiry the
    /// connection is closed, as Envoy does (there is no request yet to answer).
    func requestBytesArrived() {
        awaitingRequestStart = false
        guard let timeout = config.requestHeadersTimeout, let context else { return }
        headersTimer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [unowned self] in
            self.headersTimer = nil
            self.stats.increment(HTTPStat.rqHeaderTimeout)
            self.machine.closeRequested()
            self.closeConnection()
        }
    }

    private func connectionIdleTimedOut() {
        guard stream == nil else { return }
        stats.increment(HTTPStat.cxIdleTimeout)
        closeConnection()
    }

    private func requestTimedOut() {
        stats.increment(HTTPStat.rqTimeout)
        guard let stream = detachStream() else { return }
        stream.downstreamReset()
        machine.closeRequested()
        closeWithLocalReply(LocalReply(status: 408, flag: .streamIdleTimeout, body: "request timeout"))
    }

    private func cancelTimers() {
        connectionIdle?.cancel()
        streamIdle?.cancel()
        requestTimer?.cancel()
        requestTimer = nil
        headersTimer?.cancel()
        headersTimer = nil
        drainClose?.cancel()
    }
}

@available(*, unavailable)
extension HTTPConnectionManagerHandler: Sendable {}

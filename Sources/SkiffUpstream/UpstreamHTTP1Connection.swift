import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffTelemetry

/// One HTTP/1.1 connection to an upstream host: the last handler of its pipeline and the handle a
/// request uses to write to it.
///
/// At most one request uses a connection at a time (`responseHandler`); the pool hands it to the
/// next request only after a complete response to a complete request on a keep-alive connection,
/// so a half-used connection is never shared. Reads from the upstream are held while the
/// downstream cannot take more (`setHoldReads`), which is how back-pressure crosses the proxy.
public final class UpstreamHTTP1Connection: ChannelDuplexHandler {
    public typealias InboundIn = HTTPClientResponsePart
    public typealias OutboundIn = HTTPClientRequestPart
    public typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    /// The request using the connection. Strong, and cleared whenever an exchange ends, so no
    /// weak-reference side table is allocated per request.
    private var responseHandler: (any UpstreamResponseHandler)?
    weak var pool: HTTP1ConnectionPool?
    /// The cluster's circuit-breaker count this connection holds a slot in, released exactly once
    /// when it closes (the pool may be gone by then).
    var resources: ClusterResources?
    /// The host's `per_host_thresholds` connection count, when the cluster has one.
    var hostSlot: HostHealth?
    /// Handed to the pool as ready (connected, and over TLS the handshake passed); a connection
    /// that closes before is accounted as a connect failure, not a closed connection.
    var established = false
    /// Monotonic nanoseconds when the pool began connecting, for `upstream_cx_connect_ms` and
    /// `upstream_cx_length_ms`.
    var startedAt: UInt64 = ContinuousClockReading.now()

    func releaseSlot() {
        resources?.release(.connections)
        resources = nil
        hostSlot?.connections.subtract(1, ordering: .relaxed)
        hostSlot = nil
    }
    private var idleTimer: IdleTimer?

    /// Requests sent on this connection so far.
    public private(set) var requestsSent = 0
    private var requestComplete = false
    private var responseComplete = false
    private var reusable = true
    private var reads = ReadGate()

    init() {}

    public var isActive: Bool { context?.channel.isActive ?? false }
    public var isWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: Use by a request

    /// Attaches a request; subsequent response parts go to `handler`.
    public func begin(_ handler: any UpstreamResponseHandler) {
        idleTimer?.suspend()
        responseHandler = handler
        requestsSent += 1
        requestComplete = false
        responseComplete = false
        setHoldReads(false)
    }

    public func write(_ part: HTTPClientRequestPart, flush: Bool) {
        guard let context else { return }
        if case .end = part {
            requestComplete = true
        }
        if flush {
            context.writeAndFlush(wrapOutboundOut(part), promise: nil)
        } else {
            context.write(wrapOutboundOut(part), promise: nil)
        }
    }

    public func flush() {
        context?.flush()
    }

    /// Stops or resumes reading from the upstream socket (downstream back-pressure).
    public func setHoldReads(_ hold: Bool) {
        if reads.set(held: hold) { context?.read() }
    }

    /// Detaches the current request. The connection goes back to the pool if both directions
    /// completed on a keep-alive connection, and is closed otherwise.
    public func finish() {
        responseHandler = nil
        setHoldReads(false)
        if reusable && requestComplete && responseComplete && isActive {
            pool?.release(self)
        } else {
            close()
        }
    }

    /// The server switched protocols (`101`) for an upgrade request: the connection leaves HTTP
    /// for good. `tunnel` (a handler of raw bytes) takes the HTTP codec's place once the 101's end
    /// has been parsed; bytes the server sent right behind the 101, which the decoder already
    /// holds, are passed on to it as the decoder goes. The connection never returns to the pool,
    /// and still counts as open until it closes.
    public func upgrade(to tunnel: any ChannelHandler) -> Bool {
        guard context != nil else { return false }
        pendingTunnel = tunnel
        responseHandler = nil
        reusable = false
        idleTimer?.cancel()
        idleTimer = nil
        setHoldReads(false)
        return true
    }

    /// Set by `upgrade(to:)` until the 101's end arrives; then the codec makes way for it.
    private var pendingTunnel: (any ChannelHandler)?
    /// Switched to raw bytes: nothing more is parsed as HTTP.
    private var upgraded = false

    private func installTunnel(_ tunnel: any ChannelHandler, context: ChannelHandlerContext) {
        pendingTunnel = nil
        upgraded = true
        responseComplete = true
        do {
            let sync = context.pipeline.syncOperations
            let decoder = try sync.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self)
            try sync.addHandler(tunnel, position: .after(decoder))
            sync.removeHandler(try sync.handler(type: HTTPRequestEncoder.self), promise: nil)
            // The decoder hands its leftovers on as reads with no read-complete after them: fire
            // one so the tunnel flushes them to the other side now, not at the next read.
            let pipeline = context.pipeline
            sync.removeHandler(decoder).assumeIsolatedUnsafeUnchecked().whenSuccess {
                pipeline.syncOperations.fireChannelReadComplete()
            }
        } catch {
            close()
        }
    }

    /// Detaches the current request and closes the connection (reset, timeout, downstream gone).
    public func abort() {
        responseHandler = nil
        reusable = false
        close()
    }

    func close() {
        reusable = false
        idleTimer?.cancel()
        idleTimer = nil
        context?.close(promise: nil)
    }

    /// Starts the pooled-idle clock; the connection closes after `timeout` unused.
    func startIdleTimer(_ timeout: TimeAmount?, onExpiry: @escaping () -> Void) {
        guard let timeout, let context else { return }
        if idleTimer == nil {
            idleTimer = IdleTimer(eventLoop: context.eventLoop, timeout: timeout, onExpiry: onExpiry)
        }
        idleTimer?.resume()
    }

    // MARK: ChannelHandler

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if upgraded { return }
        let part = unwrapInboundIn(data)
        if let tunnel = pendingTunnel {
            if case .end = part { installTunnel(tunnel, context: context) }
            return
        }
        guard let handler = responseHandler else {
            // A response nobody asked for: the connection is out of sync, drop it.
            close()
            return
        }
        switch part {
        case .head(let head):
            if head.status.code >= 200 {
                reusable = reusable && head.isKeepAlive
            }
            handler.upstreamResponseHead(head)
        case .body(let buffer):
            handler.upstreamResponseBody(buffer)
        case .end(let trailers):
            responseComplete = true
            handler.upstreamResponseEnd(trailers)
        }
    }

    public func read(context: ChannelHandlerContext) {
        if reads.admit() { context.read() }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        responseHandler?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        responseHandler?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        releaseSlot()
        reusable = false
        idleTimer?.cancel()
        idleTimer = nil
        if established {
            pool?.connectionClosed(self, remote: responseHandler != nil || !responseComplete)
        }
        if let handler = responseHandler {
            responseHandler = nil
            handler.upstreamFailed(ProxyError(.upstreamReset(beforeHeaders: false)))
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reusable = false
        if let handler = responseHandler {
            responseHandler = nil
            let proxyError = error is HTTPParserError
                ? ProxyError(.upstreamProtocolError)
                : ProxyError(.upstreamReset(beforeHeaders: false))
            handler.upstreamFailed(proxyError)
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamHTTP1Connection: Sendable {}

import NIOCore
import NIOHTTP2
import SkiffCore
import SkiffTelemetry
import SkiffUpstream

/// The connection half of a downstream HTTP/2 connection: it sits after NIO's HTTP/2 handler,
/// whose streams each run their own `HTTPConnectionManagerHandler`, and owns what belongs to the
/// whole connection — the `downstream_cx_*` counters, the idle timeout (no open stream for
/// `idle_timeout`), and draining, which sends GOAWAY so the client opens no more streams, lets the
/// open ones finish, and closes when they have (or at the drain deadline).
public final class HTTP2ConnectionHandler: ChannelDuplexHandler, HTTPDrainable {
    public typealias InboundIn = HTTP2Frame
    public typealias OutboundIn = HTTP2Frame
    public typealias OutboundOut = HTTP2Frame

    private let stats: StatsScope
    private let idleTimeout: TimeAmount?
    private var context: ChannelHandlerContext?
    private var openStreams = 0
    /// The highest stream the client opened: the GOAWAY's last stream (those up to it finish).
    private var lastStreamID = HTTP2StreamID(0)
    private var idle: IdleTimer?
    private var draining = false
    private var drainDeadline: Scheduled<Void>?
    private var counted = false
    /// Monotonic nanoseconds at connection start, for `downstream_cx_length_ms`.
    private var startedAt: UInt64 = 0

    /// Over TLS (ALPN h2): counted in `downstream_cx_ssl_*` too.
    private let isTLS: Bool
    /// Who ended the connection first (`downstream_cx_destroy_local` / `_remote`), as in the
    /// HTTP/1.1 manager, and whether streams were still open when it ended (`*_active_rq`).
    private var closedLocally: Bool?
    private var streamsCutByClose = false

    public init(config: HTTPConnectionManagerConfig, worker: Worker, isTLS: Bool = false) {
        self.stats = worker.stats.http(config.statPrefix)
        self.idleTimeout = config.idleTimeout
        self.isTLS = isTLS
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        counted = true
        startedAt = ContinuousClockReading.now()
        stats.increment(HTTPStat.cxTotal)
        stats.increment(HTTPStat.cxHTTP2Total)
        stats.adjust(HTTPStat.cxActive, by: 1)
        stats.adjust(HTTPStat.cxHTTP2Active, by: 1)
        if isTLS {
            stats.increment(HTTPStat.cxSSLTotal)
            stats.adjust(HTTPStat.cxSSLActive, by: 1)
        }
        if let idleTimeout {
            idle = IdleTimer(eventLoop: context.eventLoop, timeout: idleTimeout) { [unowned self] in
                self.idleTimedOut()
            }
            idle?.resume()
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        idle?.cancel()
        drainDeadline?.cancel()
        if counted {
            counted = false
            stats.adjust(HTTPStat.cxActive, by: -1)
            stats.adjust(HTTPStat.cxHTTP2Active, by: -1)
            if isTLS { stats.adjust(HTTPStat.cxSSLActive, by: -1) }
            HTTPStat.countDestroy(in: stats, local: closedLocally == true, activeRequest: streamsCutByClose || openStreams > 0)
            stats.increment(HTTPStat.cxDestroy)
            stats.record(HTTPStat.cxLength, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- startedAt))
        }
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The client closed its side (FIN, or TLS close_notify): as in Envoy, the connection
            // ends and streams still open are reset.
            draining = true
            clientClosed()
            idle?.cancel()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A stream opened (from NIO's stream delegate: the inline multiplexer reports streams there,
    /// not as pipeline events). Open streams hold off the idle timeout and a drain's close.
    func streamOpened(_ id: HTTP2StreamID) {
        openStreams += 1
        if id > lastStreamID { lastStreamID = id }
        idle?.suspend()
    }

    func streamClosed() {
        // NIO's handler, ahead of this one, closes the open streams as the connection goes
        // inactive: a stream ending on a dead channel was cut by the close.
        if let context, !context.channel.isActive { streamsCutByClose = true }
        openStreams = max(openStreams - 1, 0)
        guard openStreams == 0, let context else { return }
        if draining {
            closeOnceFlushed(context)
        } else {
            idle?.resume()
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIO's HTTP/2 handler has already answered a protocol violation with GOAWAY.
        if error is IOError {
            clientClosed()
        } else {
            stats.increment(HTTPStat.cxProtocolError)
            closeLocally(context)
        }
        context.fireErrorCaught(error)
    }

    /// GOAWAY now (no new streams); close once the open streams finish, or at `deadline`.
    public func startDrain(closeAt deadline: NIODeadline) {
        guard let context, !draining else { return }
        draining = true
        stats.increment(HTTPStat.cxDrainClose)
        idle?.cancel()
        sendGoAway(context)
        if openStreams == 0 {
            closeLocally(context)
            return
        }
        drainDeadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [weak self] in
            guard let self, let context = self.context else { return }
            self.closeLocally(context)
        }
    }

    private func idleTimedOut() {
        guard let context, openStreams == 0 else { return }
        stats.increment(HTTPStat.cxIdleTimeout)
        sendGoAway(context)
        closeLocally(context)
    }

    /// The client ended the connection (unless this side already had).
    private func clientClosed() {
        if closedLocally == nil { closedLocally = false }
    }

    /// Closes on this handler's decision (unless the client closed first).
    private func closeLocally(_ context: ChannelHandlerContext) {
        if closedLocally == nil { closedLocally = true }
        context.close(promise: nil)
    }

    /// The last stream is done while draining. NIO reports it from inside the write of its
    /// final frame, before that frame reaches the socket: close on the next tick, after a
    /// flushed final GOAWAY, so the response is not cut off.
    private func closeOnceFlushed(_ context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { [self] in
            guard self.context != nil else { return }
            let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                self.closeLocally(context)
            }
        }
    }

    private func sendGoAway(_ context: ChannelHandlerContext) {
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}

@available(*, unavailable)
extension HTTP2ConnectionHandler: Sendable {}

/// Tells the connection's handler when streams open and close; NIO calls it on the loop.
struct HTTP2StreamTracker: NIOHTTP2StreamDelegate {
    let handler: NIOLoopBound<HTTP2ConnectionHandler>

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        handler.value.streamOpened(id)
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
        handler.value.streamClosed()
    }
}

import NIOCore
import NIOHTTP1
import NIOHTTP2
import SkiffCore

/// One request's stream on a shared upstream HTTP/2 connection: the last handler of the stream
/// channel, behind NIO's HTTP/1 ↔ HTTP/2 codec, so the router writes the same parts as to an
/// HTTP/1.1 connection. Reads are held while the downstream cannot take more; the stream's
/// flow-control window then stops the upstream, so a slow reader never makes Skiff buffer more
/// than that window.
public final class UpstreamHTTP2Stream: ChannelDuplexHandler, UpstreamExchange {
    public typealias InboundIn = HTTPClientResponsePart
    public typealias OutboundIn = HTTPClientRequestPart
    public typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var responseHandler: (any UpstreamResponseHandler)?
    private var reads = ReadGate()
    private var responseHeadSeen = false
    /// Called once when the stream channel closes (the connection counts its open streams).
    var onClose: (() -> Void)?
    /// The connection: its GOAWAY tells a refused stream from a reset one.
    weak var connection: UpstreamHTTP2Connection?
    /// The HEADERS frame went out: the server may have seen the request. Until then the stream
    /// can always be sent again elsewhere.
    private(set) var started = false
    /// How long HEADERS may wait to go out (NIO queues them while the server's stream limit is
    /// reached): past it the request is sent elsewhere and this connection retired. The
    /// cluster's `connect_timeout`, as starting a stream is this protocol's connect.
    var startTimeout: TimeAmount = .seconds(5)
    private var startTimer: Scheduled<Void>?

    /// GOAWAY arrived (or the connection closed) before this stream started: it never will, so
    /// the request goes elsewhere at once rather than waiting for a timeout.
    func refuseIfNotStarted() {
        guard !started, let handler = responseHandler else { return }
        responseHandler = nil
        handler.upstreamFailed(ProxyError(.refusedStream))
        context?.close(promise: nil)
    }

    init() {}

    public var isWritable: Bool { context?.channel.isWritable ?? false }

    public func begin(_ handler: any UpstreamResponseHandler) {
        responseHandler = handler
    }

    public func write(_ part: HTTPClientRequestPart, flush: Bool) {
        guard let context else { return }
        if case .head = part {
            // The stream starts with this HEADERS frame. If GOAWAY arrived since the stream was
            // opened, NIO refuses to start it (and may not close the stream channel): that is a
            // refused stream, safe to send again.
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolatedUnsafeUnchecked().whenComplete { [weak self] result in
                self?.startTimer?.cancel()
                switch result {
                case .success: self?.started = true
                case .failure(let error): self?.headersFailed(error)
                }
            }
            startTimer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: startTimeout) { [weak self] in
                guard let self, !self.started else { return }
                self.connection?.retire()
                self.refuseIfNotStarted()
            }
            if flush {
                context.writeAndFlush(wrapOutboundOut(part), promise: promise)
            } else {
                context.write(wrapOutboundOut(part), promise: promise)
            }
            return
        }
        if case .end = part { requestEnded = true }
        if flush {
            context.writeAndFlush(wrapOutboundOut(part), promise: nil)
        } else {
            context.write(wrapOutboundOut(part), promise: nil)
        }
    }

    /// The request's END_STREAM was written.
    private var requestEnded = false

    public func flush() {
        context?.flush()
    }

    public func setHoldReads(_ hold: Bool) {
        if reads.set(held: hold) { context?.read() }
    }

    /// The response ended. With the request sent too, the stream is done and NIO closes its
    /// channel itself: closing it here would send RST_STREAM(CANCEL) for every request, and
    /// servers count resets (NIO's and others' reset-flood guards GOAWAY a connection after a
    /// few hundred). A request still being sent is reset: the response made it moot.
    public func finish() {
        responseHandler = nil
        if !requestEnded {
            context?.close(promise: nil)
        }
    }

    public func abort() {
        responseHandler = nil
        context?.close(promise: nil)
    }

    /// HTTP/1.1-style upgrades do not exist on HTTP/2 (that is extended CONNECT, not supported).
    public func upgrade(to tunnel: any ChannelHandler) -> Bool {
        false
    }

    private func headersFailed(_ error: any Error) {
        guard let handler = responseHandler else { return }
        responseHandler = nil
        let failure = error is NIOHTTP2Errors.IOOnClosedConnection || error is NIOHTTP2Errors.CreatedStreamAfterGoaway
            ? ProxyError(.refusedStream)
            : Self.classify(error, responseStarted: responseHeadSeen, goAwayLastStreamID: connection?.goAwayLastStreamID)
        handler.upstreamFailed(failure)
        context?.close(promise: nil)
    }

    // MARK: ChannelHandler

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let handler = responseHandler else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status.code >= 200 { responseHeadSeen = true }
            handler.upstreamResponseHead(head)
        case .body(let buffer):
            handler.upstreamResponseBody(buffer)
        case .end(let trailers):
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
        startTimer?.cancel()
        if let handler = responseHandler {
            responseHandler = nil
            handler.upstreamFailed(started ? ProxyError(.upstreamReset(beforeHeaders: !responseHeadSeen)) : ProxyError(.refusedStream))
        }
        let done = onClose
        onClose = nil
        done?()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let handler = responseHandler {
            responseHandler = nil
            handler.upstreamFailed(Self.classify(error, responseStarted: responseHeadSeen, goAwayLastStreamID: connection?.goAwayLastStreamID))
        }
        context.close(promise: nil)
    }

    /// A stream the server refused is safe to send again: REFUSED_STREAM, a stream above the
    /// last one a GOAWAY lets finish (NIO closes those as cancelled), or one that could not start
    /// because GOAWAY had arrived. Other resets are resets.
    static func classify(_ error: any Error, responseStarted: Bool, goAwayLastStreamID: HTTP2StreamID?) -> ProxyError {
        if !responseStarted {
            if let reset = error as? NIOHTTP2Errors.StreamClosed {
                if reset.errorCode == .refusedStream { return ProxyError(.refusedStream) }
                if let last = goAwayLastStreamID, reset.streamID > last { return ProxyError(.refusedStream) }
            }
            if error is NIOHTTP2Errors.CreatedStreamAfterGoaway { return ProxyError(.refusedStream) }
        }
        if error is NIOHTTP2Errors.StreamClosed || error is NIOHTTP2Errors.StreamIDTooSmall {
            return ProxyError(.upstreamReset(beforeHeaders: !responseStarted))
        }
        if error is HTTPParserError || error is NIOHTTP2Errors.ContentLengthViolated {
            return ProxyError(.upstreamProtocolError)
        }
        return ProxyError(.upstreamReset(beforeHeaders: !responseStarted))
    }
}

@available(*, unavailable)
extension UpstreamHTTP2Stream: Sendable {}

import NIOCore
import SkiffCore
import SkiffTLS
import SkiffUpstream

/// `codec_type: AUTO`: reads a connection's first bytes and installs HTTP/2 when they are the
/// HTTP/2 connection preface (prior-knowledge h2c, or a TLS client that chose `h2` by ALPN),
/// HTTP/1.1 otherwise, as Envoy does. It decides on the first byte that differs from the preface,
/// so it holds at most 24 bytes, then replays them to the new codec and leaves the pipeline.
public final class HTTPCodecSelector: ChannelInboundHandler, RemovableChannelHandler, HTTPDrainable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    /// RFC 9113 §3.4.
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Verdict: Equatable { case http1, http2, needMore }

    /// What `bytes` (the connection's first bytes so far) say.
    static func verdict(_ bytes: ByteBuffer) -> Verdict {
        let view = bytes.readableBytesView
        for (offset, byte) in view.prefix(preface.count).enumerated() where byte != preface[offset] {
            return .http1
        }
        return view.count >= preface.count ? .http2 : .needMore
    }

    private let config: HTTPConnectionManagerConfig
    private let worker: Worker
    private let tlsSession: TLSSession?
    private var buffered: ByteBuffer?
    private var chosen: (any HTTPDrainable)?
    private var drainRequested: NIODeadline?

    init(config: HTTPConnectionManagerConfig, worker: Worker, tlsSession: TLSSession?) {
        self.config = config
        self.worker = worker
        self.tlsSession = tlsSession
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil {
            buffered = incoming
        } else {
            buffered!.writeBuffer(&incoming)
        }
        let verdict = Self.verdict(buffered!)
        guard verdict != .needMore else { return }
        do {
            let pipeline = context.pipeline.syncOperations
            if verdict == .http2 {
                chosen = try HTTPPipeline.configureHTTP2(pipeline, config: config, worker: worker, tlsSession: tlsSession)
            } else {
                chosen = try HTTPPipeline.configureHTTP1(pipeline, config: config, worker: worker, tlsSession: tlsSession, bytesArrived: true)
            }
        } catch {
            context.close(promise: nil)
            return
        }
        if let deadline = drainRequested { chosen?.startDrain(closeAt: deadline) }
        let bytes = buffered!
        buffered = nil
        context.fireChannelRead(wrapInboundOut(bytes))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// The client closed its side before saying enough to pick a codec: nothing will follow.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, chosen == nil {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // Closed before saying anything: no codec, nothing to count beyond the listener's stats.
        context.fireChannelInactive()
    }

    /// Draining before the first request: the connection has nothing in flight, so it closes.
    public func startDrain(closeAt deadline: NIODeadline) {
        if let chosen {
            chosen.startDrain(closeAt: deadline)
        } else {
            drainRequested = deadline
            if buffered == nil { closeIfStillSilent(at: deadline) }
        }
    }

    private var contextForClose: ChannelHandlerContext?

    public func handlerAdded(context: ChannelHandlerContext) {
        contextForClose = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        contextForClose = nil
    }

    /// A connection that has sent nothing yet may be a client that just connected (a drain with
    /// `--drain-strategy gradual` still accepts): it gets the idle grace an HTTP/1.1 connection
    /// gets (Envoy's 5 s `drain_timeout`, within the drain time) to send its request, which is
    /// then served and answered with `connection: close`.
    private func closeIfStillSilent(at deadline: NIODeadline) {
        guard let context = contextForClose else { return }
        let at = min(deadline, .now() + HTTPConnectionManagerHandler.drainTimeout)
        context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: at) { [weak self] in
            guard let self, self.chosen == nil, self.buffered == nil else { return }
            self.contextForClose?.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HTTPCodecSelector: Sendable {}

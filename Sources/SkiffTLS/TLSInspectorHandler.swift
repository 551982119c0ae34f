import NIOCore

/// `envoy.filters.listener.tls_inspector`: holds a new connection's first bytes until they show a
/// ClientHello (or plainly are not one), hands what it learned to `decide` — which builds the rest
/// of the pipeline for the chosen filter chain — then replays the bytes into it and leaves. The
/// bytes are buffered, never consumed, and at most `ClientHelloParser.maxHelloBytes` are kept.
public final class TLSInspectorHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    /// What the inspector learned: transport protocol `tls` or `raw_buffer`, SNI and ALPN.
    public struct Detected: Sendable, Equatable {
        public var isTLS: Bool
        public var serverName: String?
        public var alpn: [String]
    }

    private var buffered: ByteBuffer?
    private var timer: Scheduled<Void>?
    private let timeout: TimeAmount?
    private let continueOnTimeout: Bool
    private var decide: ((Detected) -> Bool)?

    /// `decide` returns false when no chain matches (the connection is then closed).
    public init(timeout: TimeAmount?, continueOnTimeout: Bool, decide: @escaping (Detected) -> Bool) {
        self.timeout = timeout
        self.continueOnTimeout = continueOnTimeout
        self.decide = decide
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        guard let timeout else { return }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [self] in
            guard self.decide != nil else { return }
            if self.continueOnTimeout {
                self.finish(context: context, Detected(isTLS: false, serverName: nil, alpn: []))
            } else {
                self.decide = nil
                context.close(promise: nil)
            }
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard decide != nil else {
            context.fireChannelRead(data)
            return
        }
        if buffered == nil {
            buffered = incoming
        } else {
            buffered!.writeBuffer(&incoming)
        }
        switch ClientHelloParser.parse(buffered!.readableBytesView) {
        case .needMore:
            return
        case .notTLS:
            finish(context: context, Detected(isTLS: false, serverName: nil, alpn: []))
        case .clientHello(let name, let alpn):
            finish(context: context, Detected(isTLS: true, serverName: name, alpn: alpn))
        case .unreadable:
            finish(context: context, Detected(isTLS: true, serverName: nil, alpn: []))
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        decide = nil
        context.fireChannelInactive()
    }

    private func finish(context: ChannelHandlerContext, _ detected: Detected) {
        timer?.cancel()
        guard let decide else { return }
        self.decide = nil
        guard decide(detected) else {
            context.close(promise: nil)
            return
        }
        // Replay into the handlers `decide` added behind this one, then leave the pipeline.
        if let replay = buffered {
            buffered = nil
            context.fireChannelRead(wrapInboundOut(replay))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension TLSInspectorHandler: Sendable {}

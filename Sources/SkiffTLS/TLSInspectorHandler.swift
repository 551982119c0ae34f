import NIOCore

/// `envoy.filters.listener.tls_inspector` and `envoy.filters.listener.http_inspector`: holds a
/// new connection's first bytes until they show a ClientHello (or plainly are not one) and, in
/// plaintext, whether they are HTTP/1.x, the HTTP/2 preface or something else; hands what it
/// learned to `decide` — which builds the rest of the pipeline for the chosen filter chain — then
/// replays the bytes into it and leaves. The bytes are buffered, never consumed, and at most
/// `ClientHelloParser.maxHelloBytes` are kept.
///
/// A client that sends nothing (a server-speaks-first protocol such as MySQL or SMTP) is given up
/// on at `listener_filters_timeout`; with `continue_on_listener_filters_timeout` it then goes on
/// as plaintext with no application protocol — the TCP chain — and `onTimeout` counts it.
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
    private let inspectTLS: Bool
    private let inspectHTTP: Bool
    private let onTimeout: () -> Void
    private let onRemoteClose: () -> Void
    private let onEnd: () -> Void

    /// `decide` returns false when no chain matches (the connection is then closed).
    /// `onRemoteClose`: the client closed before saying enough (Envoy's
    /// `downstream_listener_filter_remote_close`); `onEnd`: inspection is over, however it ended
    /// (called once; it keeps `downstream_pre_cx_active` right).
    public init(
        timeout: TimeAmount?, continueOnTimeout: Bool, inspectTLS: Bool = true, inspectHTTP: Bool = false,
        onTimeout: @escaping () -> Void = {}, onRemoteClose: @escaping () -> Void = {}, onEnd: @escaping () -> Void = {},
        decide: @escaping (Detected) -> Bool
    ) {
        self.timeout = timeout
        self.continueOnTimeout = continueOnTimeout
        self.inspectTLS = inspectTLS
        self.inspectHTTP = inspectHTTP
        self.onTimeout = onTimeout
        self.onRemoteClose = onRemoteClose
        self.onEnd = onEnd
        self.decide = decide
    }

    /// Inspection is over: no decision will be taken any more.
    private func end() -> ((Detected) -> Bool)? {
        guard let decide else { return nil }
        self.decide = nil
        onEnd()
        return decide
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        guard let timeout else { return }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [self] in
            guard self.decide != nil else { return }
            self.onTimeout()
            if self.continueOnTimeout {
                self.finish(context: context, Detected(isTLS: false, serverName: nil, alpn: []))
            } else {
                _ = self.end()
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
        let bytes = buffered!.readableBytesView
        if inspectTLS {
            switch ClientHelloParser.parse(bytes) {
            case .needMore:
                return
            case .notTLS:
                break
            case .clientHello(let name, let alpn):
                finish(context: context, Detected(isTLS: true, serverName: name, alpn: alpn))
                return
            case .unreadable:
                finish(context: context, Detected(isTLS: true, serverName: nil, alpn: []))
                return
            }
        }
        guard inspectHTTP else {
            finish(context: context, Detected(isTLS: false, serverName: nil, alpn: []))
            return
        }
        switch HTTPProtocolSniffer.sniff(bytes) {
        case .needMore:
            return
        case .detected(let protocolName):
            finish(context: context, Detected(isTLS: false, serverName: nil, alpn: [protocolName]))
        case .notHTTP:
            finish(context: context, Detected(isTLS: false, serverName: nil, alpn: []))
        }
    }

    /// The client half-closed before saying enough: nothing more will arrive to decide on, so
    /// the connection is closed (as Envoy does) and counted as a remote close.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, decide != nil {
            timer?.cancel()
            _ = end()
            onRemoteClose()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if end() != nil { onRemoteClose() }
        context.fireChannelInactive()
    }

    private func finish(context: ChannelHandlerContext, _ detected: Detected) {
        timer?.cancel()
        guard let decide = end() else { return }
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

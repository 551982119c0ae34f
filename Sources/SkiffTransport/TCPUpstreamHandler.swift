import NIOCore

/// The upstream side of a TCP proxy connection: forwards bytes to its `TCPProxyHandler` and holds
/// upstream reads while the downstream cannot take more.
final class TCPUpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private weak var downstream: TCPProxyHandler?
    private var context: ChannelHandlerContext?
    private var holdReads = false
    private var pendingRead = false
    private(set) var inputClosed = false

    init(downstream: TCPProxyHandler) {
        self.downstream = downstream
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func write(_ buffer: ByteBuffer, flush: Bool) {
        guard let context else { return }
        if flush {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func flush() {
        context?.flush()
    }

    func shutdownOutput() {
        context?.close(mode: .output, promise: nil)
    }

    func close() {
        context?.close(promise: nil)
    }

    func flushThenClose() {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)))
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { _ in context.close(promise: nil) }
    }

    func setHoldReads(_ hold: Bool) {
        holdReads = hold
        if !hold, pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let downstream else { return }
        downstream.upstreamData(unwrapInboundIn(data))
        if !downstream.isWritable {
            setHoldReads(true)
        }
    }

    func read(context: ChannelHandlerContext) {
        if holdReads {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        downstream?.setHoldReads(!context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            downstream?.upstreamInputClosed()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        downstream?.upstreamClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension TCPUpstreamHandler: Sendable {}

import NIOCore

/// Sits in front of the HTTP/1.1 decoder and tells the connection manager when the first bytes of
/// a request arrive, which is when Envoy's `request_headers_timeout` starts (it stops when the
/// head is complete). Bytes pass through untouched; the cost is one flag check per read.
final class RequestStartObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private unowned let manager: HTTPConnectionManagerHandler

    init(manager: HTTPConnectionManagerHandler) {
        self.manager = manager
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if manager.awaitingRequestStart {
            manager.requestBytesArrived()
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension RequestStartObserver: Sendable {}

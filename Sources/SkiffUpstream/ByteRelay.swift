import NIOCore
import SkiffCore

/// What a `ByteRelayEnd` pumps into: the other side of a relay of raw bytes. The other side is
/// another relay end (a WebSocket tunnel: both connections are plain byte pipes) or a handler
/// with more to do (the TCP proxy's downstream side: connecting, stats, idle timeout).
///
/// Both sides run on the same event loop. The contract, each way: bytes read on one side are
/// `relayed` to the other and flushed at the end of the read burst; a side whose peer is not
/// writable stops reading until the peer's writability returns; a finished input is passed on as a
/// half-close, and a close as a close after flushing.
public protocol ByteRelayPeer: AnyObject {
    /// Writes `buffer` on this side (unflushed until `relayFlush`).
    func relayed(_ buffer: ByteBuffer)
    /// The other side finished a read burst.
    func relayFlush()
    /// Whether this side's write buffer has room.
    var isWritable: Bool { get }
    /// Stops or resumes reading on this side (the other side's back-pressure).
    func setHoldReads(_ hold: Bool)
    /// The other side will send nothing more: finish this side's output.
    func relayInputClosed()
    /// The other side closed: flush what it sent, then close.
    func relayClosed()
}

/// One side of a relay of raw bytes between two connections, as the last useful handler of its
/// pipeline: used for the TCP proxy's upstream connections and for both sides of an upgraded
/// HTTP/1.1 connection (WebSocket).
public final class ByteRelayEnd: ChannelDuplexHandler, RemovableChannelHandler, ByteRelayPeer {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// The other side. Weak: each side is owned by its own pipeline.
    public weak var peer: (any ByteRelayPeer)?
    private var context: ChannelHandlerContext?
    private var reads = ReadGate()
    private var closing = false
    /// This side's input finished (the peer's output was shut down).
    public private(set) var inputClosed = false
    /// Called for every read on this side (idle timeouts).
    private let onActivity: (() -> Void)?

    public init(onActivity: (() -> Void)? = nil) {
        self.onActivity = onActivity
    }

    /// Two linked ends: (downstream side, upstream side).
    public static func pair(onActivity: (() -> Void)? = nil) -> (ByteRelayEnd, ByteRelayEnd) {
        let downstream = ByteRelayEnd(onActivity: onActivity)
        let upstream = ByteRelayEnd(onActivity: onActivity)
        downstream.peer = upstream
        upstream.peer = downstream
        return (downstream, upstream)
    }

    public var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Closes this side at once.
    public func close() {
        closing = true
        context?.close(promise: nil)
    }

    // MARK: ByteRelayPeer (driven by the other side)

    public func relayed(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    public func relayFlush() {
        context?.flush()
    }

    public func setHoldReads(_ hold: Bool) {
        if reads.set(held: hold) { context?.read() }
    }

    public func relayInputClosed() {
        guard let context else { return }
        if inputClosed {
            close()  // Both directions are done.
            return
        }
        // A transport that cannot half-close (TLS may not) closes instead.
        context.close(mode: .output).assumeIsolatedUnsafeUnchecked().whenFailure { _ in
            context.close(promise: nil)
        }
    }

    public func relayClosed() {
        guard let context, !closing else { return }
        closing = true
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)))
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { _ in context.close(promise: nil) }
    }

    // MARK: ChannelHandler

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onActivity?()
        guard let peer else { return }
        peer.relayed(unwrapInboundIn(data))
        if !peer.isWritable {
            reads.set(held: true)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        peer?.relayFlush()
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        if reads.admit() { context.read() }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        peer?.setHoldReads(!context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Not passed on: an HTTP connection manager behind would close the whole connection.
            inputClosed = true
            peer?.relayInputClosed()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closing = true
        peer?.relayClosed()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Handlers behind (HTTP ones, after an upgrade) have nothing to say about a relay's errors.
        close()
    }
}

@available(*, unavailable)
extension ByteRelayEnd: Sendable {}

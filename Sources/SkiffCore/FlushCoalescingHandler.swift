import NIOCore

/// Defers a multiplexed connection's flushes to the end of the event-loop tick, so that every
/// frame written while the loop handled this tick's I/O leaves in one `writev`.
///
/// Why: on an HTTP/2 connection each stream flushes its own response, and each of those responses
/// is usually completed by a different upstream socket's read in the same tick. Flushed one by one
/// they cost a `writev` per response — on loopback the sender also pays the receiver's TCP work —
/// which measured as the largest share of an HTTP/2 stream's cost (one `writev` per request under
/// h2load where Envoy, which writes a connection's buffer once per loop iteration, made one per ten).
///
/// Sits between the socket (or TLS, so records are also coalesced) and the HTTP/2 handler. NIO
/// runs tasks queued from inside the loop after the tick's I/O, so the deferred flush costs one
/// in-loop task per tick per connection, not per response. A close passing through flushes first,
/// so a `write; flush; close` sequence never loses its writes.
public final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    private var state = FlushCoalescing()

    public init() {}

    public func flush(context: ChannelHandlerContext) {
        guard state.flushRequested() else { return }
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { [self] in
            if state.tickEnded() { context.flush() }
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if state.flushNow() { context.flush() }
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        if state.flushNow() { context.flush() }
    }
}

/// The coalescer's decisions: at most one deferred flush scheduled at a time, and a flush taken
/// early (close, removal) cancels the deferred one.
public struct FlushCoalescing: Sendable {
    private var pending = false
    private var scheduled = false

    public init() {}

    /// A flush arrived: true when a deferred flush must be scheduled (none is yet).
    public mutating func flushRequested() -> Bool {
        pending = true
        if scheduled { return false }
        scheduled = true
        return true
    }

    /// The deferred task runs: true when a flush is still owed.
    public mutating func tickEnded() -> Bool {
        scheduled = false
        defer { pending = false }
        return pending
    }

    /// Something must go out now (a close, the handler leaving): true when a flush is owed.
    public mutating func flushNow() -> Bool {
        defer { pending = false }
        return pending
    }
}

import NIOCore
import NIOEmbedded
import SkiffCore
import Testing

struct FlushCoalescingHandlerTests {
    /// Three streams' responses flushed in one tick leave together when the tick's tasks run.
    @Test func flushesInOneTickLeaveOnceAtItsEnd() throws {
        let channel = EmbeddedChannel(handler: FlushCoalescingHandler())
        defer { _ = try? channel.finish() }
        var flushes = 0
        channel.pipeline.syncOperations.fireChannelRegistered()
        for part in ["a", "b", "c"] {
            channel.write(ByteBuffer(string: part), promise: nil)
            channel.flush()
        }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing written before the tick ends")
        channel.embeddedEventLoop.run()
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            flushes += 1
            #expect(buffer.readableBytes == 1)
        }
        #expect(flushes == 3, "all three writes went out with the one deferred flush")
    }

    /// A close right after a flush (write, flush, close in one go) must not leave the writes
    /// behind it: the owed flush passes towards the socket before the close does.
    @Test func aCloseFlushesWhatIsOwedFirst() throws {
        let recorder = OutboundRecorder()
        let channel = EmbeddedChannel(handlers: [recorder, FlushCoalescingHandler()])
        channel.write(ByteBuffer(string: "goaway"), promise: nil)
        channel.flush()
        channel.close(promise: nil)
        #expect(recorder.events == ["write", "flush", "close"])
        channel.embeddedEventLoop.run()
        #expect(recorder.events == ["write", "flush", "close"], "no second flush once the owed one went")
    }

    @Test func theDecisions() {
        var state = FlushCoalescing()
        let steps = [
            state.flushRequested(),  // first flush schedules
            state.flushRequested(),  // a second one in the tick rides along
            state.tickEnded(),  // the tick's end owes a flush
            state.tickEnded(),  // and only one
            state.flushRequested(),
            state.flushNow(),  // a close takes the owed flush
            state.tickEnded(),  // the deferred task then has nothing to do
            state.flushRequested(),  // a later flush schedules again
        ]
        #expect(steps == [true, false, true, false, true, true, false, true])
    }
}

/// Sits on the socket side of the coalescer and notes what passes through, in order.
private final class OutboundRecorder: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    var events: [String] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        events.append("write")
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        events.append("flush")
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        events.append("close")
        context.close(mode: mode, promise: promise)
    }
}

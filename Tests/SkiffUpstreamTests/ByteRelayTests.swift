import NIOCore
import NIOEmbedded
import SkiffUpstream
import Testing

/// Two relay ends on two embedded channels: bytes, back-pressure and close cross over (half-close,
/// which EmbeddedChannel cannot do, is tested on real sockets by the TCP proxy's tests).
struct ByteRelayTests {
    func linked() throws -> (EmbeddedChannel, EmbeddedChannel, ByteRelayEnd, ByteRelayEnd) {
        let (a, b) = ByteRelayEnd.pair()
        let left = EmbeddedChannel(handlers: [ReadCounter(), a])
        let right = EmbeddedChannel(handlers: [ReadCounter(), b])
        try left.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try right.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        return (left, right, a, b)
    }

    @Test func bytesReadOnOneSideAreWrittenOnTheOtherAtTheEndOfTheBurst() throws {
        let (left, right, _, _) = try linked()
        left.pipeline.fireChannelRead(ByteBuffer(string: "hello "))
        left.pipeline.fireChannelRead(ByteBuffer(string: "world"))
        #expect(try right.readOutbound(as: ByteBuffer.self) == nil, "not flushed before the read burst ends")
        left.pipeline.fireChannelReadComplete()
        #expect(try right.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "hello "))
        #expect(try right.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "world"))
        try right.writeInbound(ByteBuffer(string: "back"))
        right.pipeline.fireChannelReadComplete()
        #expect(try left.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "back"))
    }

    @Test func aFullPeerHoldsReadsUntilItDrains() throws {
        let (left, right, _, _) = try linked()
        right.isWritable = false
        right.pipeline.fireChannelWritabilityChanged()
        left.pipeline.read()
        #expect(left.readsRequested == 0, "held while the other side cannot take more")
        right.isWritable = true
        right.pipeline.fireChannelWritabilityChanged()
        #expect(left.readsRequested == 1, "the held read goes out when it drains")
    }

    @Test func aCloseOnOneSideClosesTheOtherAfterFlushing() throws {
        let (left, right, _, _) = try linked()
        try left.writeInbound(ByteBuffer(string: "last words"))
        try left.close().wait()
        #expect(try right.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "last words"))
        #expect(!right.isActive)
    }
}

extension EmbeddedChannel {
    /// Reads that reached the head of the pipeline.
    var readsRequested: Int {
        (try? pipeline.syncOperations.handler(type: ReadCounter.self).reads) ?? -1
    }
}

/// Counts `read()` calls that pass it, at the head of the pipeline.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

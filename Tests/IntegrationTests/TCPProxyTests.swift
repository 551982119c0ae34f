import NIOCore
import NIOPosix
import Testing

/// `envoy.filters.network.tcp_proxy` end to end.
@Suite(.serialized)
struct TCPProxyTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func oneMegabyteRoundTripIsIntactWithHalfClose() async throws {
        let echo = try await TCPEchoServer.start(group: group)
        let proxy = try await ProxyHarness.start(Bootstrap.tcp(
            proxy: "stat_prefix: echo\ncluster: echo",
            clusters: [Bootstrap.cluster("echo", ports: [echo.port])]
        ))
        let client = try await proxy.client()
        var payload = ByteBuffer()
        for i in 0..<(1024 * 1024) {
            payload.writeInteger(UInt8(truncatingIfNeeded: i &* 31 &+ 7))
        }
        try await client.send(payload)
        try await client.shutdownOutput()
        let received = try await client.readToEnd()
        #expect(received.readableBytes == payload.readableBytes)
        #expect(received == payload)
        let stats = try await proxy.admin("/stats")
        #expect(stats.body.contains("tcp.echo.downstream_cx_total: 1"))
        #expect(stats.body.contains("tcp.echo.downstream_cx_rx_bytes_total: 1048576"))
        await client.close()
        await proxy.stop()
        await echo.close()
    }

    @Test func weightedClustersAndConnectAttempts() async throws {
        let echo = try await TCPEchoServer.start(group: group)
        let dead = try await TCPEchoServer.start(group: group)
        let deadPort = dead.port
        await dead.close()
        let proxy = try await ProxyHarness.start(Bootstrap.tcp(
            proxy: """
            stat_prefix: mixed
            max_connect_attempts: 1
            weighted_clusters:
              clusters:
              - { name: live, weight: 1 }
              - { name: dead, weight: 0 }
            """,
            clusters: [Bootstrap.cluster("live", ports: [echo.port]), Bootstrap.cluster("dead", ports: [deadPort])]
        ))
        for _ in 0..<5 {
            let client = try await proxy.client()
            try await client.send("ping")
            try await client.shutdownOutput()
            let back = try await client.readToEnd()
            #expect(String(buffer: back) == "ping")
            await client.close()
        }
        await proxy.stop()
        await echo.close()
    }
}

/// A TCP echo server that mirrors half-close.
final class TCPEchoServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    init(channel: any Channel) { self.channel = channel }

    static func start(group: any EventLoopGroup) async throws -> TCPEchoServer {
        let channel = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TCPEchoServer(channel: channel)
    }

    func close() async { try? await channel.close() }
}

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(capacity: 0))).assumeIsolated().whenComplete { _ in
                context.close(mode: .output, promise: nil)
            }
        }
    }
}

import NIOCore
import NIOHTTP1
import NIOPosix
import SkiffCore
import SkiffHTTP
import SkiffTelemetry
import SkiffUpstream

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Binds a listener on every worker and builds the pipeline of each accepted connection.
///
/// Each worker gets its own listening socket on the same address (`SO_REUSEPORT`), so the kernel
/// spreads accepts across workers and a connection is accepted, served and closed on one event
/// loop. With port 0, the first bind picks the port and the other workers bind to it.
public enum ListenerBinder {
    /// A listener bound on every worker.
    public struct Bound: Sendable {
        public var name: String
        /// The address actually bound (port resolved when the config asked for 0).
        public var address: SocketAddress
        public var channels: [any Channel]
    }

    public static func bind(_ listener: ListenerConfig, workers: [NIOLoopBound<Worker>]) async throws -> Bound {
        var channels: [any Channel] = []
        var port = listener.address.port
        var bound: SocketAddress?
        for worker in workers {
            let address = try SocketAddress(ipAddress: listener.address.host, port: port)
            let channel = try await bootstrap(listener, worker: worker).bind(to: address).get()
            channels.append(channel)
            if bound == nil {
                bound = channel.localAddress
                port = channel.localAddress?.port ?? port
            }
        }
        return Bound(name: listener.name, address: bound!, channels: channels)
    }

    #if canImport(Glibc)
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)
    #else
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)
    #endif

    static func bootstrap(_ listener: ListenerConfig, worker: NIOLoopBound<Worker>) -> ServerBootstrap {
        let limit = listener.bufferLimitBytes
        return ServerBootstrap(group: worker.eventLoop)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.socketOption(reusePort), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: limit / 2, high: limit))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel, listener: listener, worker: worker.value)
                }
            }
    }

    /// Builds an accepted connection's pipeline from the filter chain it matches.
    static func configure(_ channel: any Channel, listener: ListenerConfig, worker: Worker) throws {
        let stats = worker.stats.listener(listener.statPrefix)
        stats.increment(ListenerStat.cxTotal)
        stats.adjust(ListenerStat.cxActive, by: 1)
        channel.closeFuture.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            stats.adjust(ListenerStat.cxActive, by: -1)
            stats.increment(ListenerStat.cxDestroy)
        }
        guard let chain = FilterChainSelector.select(listener.filterChains, localPort: channel.localAddress?.port) else {
            stats.increment(ListenerStat.noFilterChainMatch)
            channel.close(promise: nil)
            return
        }
        let pipeline = channel.pipeline.syncOperations
        switch chain.filter {
        case .httpConnectionManager(let hcm):
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = hcm.maxRequestHeadersBytes
            limits.maxHeaderFieldSize = hcm.maxRequestHeadersBytes
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: true,
                withErrorHandling: false,
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: limits
            )
            try pipeline.addHandler(HTTPConnectionManagerHandler(config: hcm, worker: worker))
        case .tcpProxy(let tcp):
            try pipeline.addHandler(TCPProxyHandler(config: tcp, worker: worker))
        }
    }
}

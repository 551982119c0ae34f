import NIOCore
import NIOHTTP2
import NIOPosix
import SkiffCore
import SkiffTelemetry
import SkiffTLS

/// HTTP/2 connections from one worker to one upstream host, multiplexed: each request gets a
/// stream on a connection with room (the server's SETTINGS_MAX_CONCURRENT_STREAMS and the
/// cluster's `max_concurrent_streams`), and another connection opens only when every one is full
/// (within `max_connections`). A connection that receives GOAWAY takes no new streams and closes
/// when its last stream ends. Requests waiting for room are bounded by `max_pending_requests`.
/// No locks: pool, connections and streams share the worker's event loop.
public final class HTTP2ConnectionPool {
    public let host: UpstreamHost
    private unowned let cluster: UpstreamCluster
    private var connections: [UpstreamHTTP2Connection] = []
    private var connecting = 0
    private var waiters = CircularBuffer<UpstreamAcquireCompletion>()

    init(host: UpstreamHost, cluster: UpstreamCluster) {
        self.host = host
        self.cluster = cluster
    }

    public var connectionCount: Int { connections.count }

    /// Calls `completion` with a new stream: on a connection with room at once, else when one has
    /// room or a new connection is up. Always on the worker's loop.
    public func acquire(_ completion: @escaping UpstreamAcquireCompletion) {
        if let connection = connections.first(where: \.hasCapacity) {
            connection.openStream(completion)
            return
        }
        let resources = cluster.resources
        guard resources.tryAcquire(.pendingRequests, limit: cluster.config.circuitBreakers.maxPendingRequests) else {
            cluster.stats.increment(ClusterStat.rqPendingOverflow)
            completion(.failure(ProxyError(.overflow)))
            return
        }
        cluster.stats.increment(ClusterStat.rqPendingTotal)
        cluster.stats.adjust(ClusterStat.rqPendingActive, by: 1)
        let stats = cluster.stats
        waiters.append { result in
            resources.release(.pendingRequests)
            stats.adjust(ClusterStat.rqPendingActive, by: -1)
            completion(result)
        }
        connectIfNeeded()
    }

    /// Serves waiters from connections with room; opens a connection for the rest if none is
    /// on its way.
    private func serveWaiters() {
        while !waiters.isEmpty, let connection = connections.first(where: \.hasCapacity) {
            connection.openStream(waiters.removeFirst())
        }
        connectIfNeeded()
    }

    private func connectIfNeeded() {
        guard !waiters.isEmpty, connecting == 0 else { return }
        let live = connections.contains { !$0.goingAway }
        if tryAcquireConnectionSlot() {
            connect()
        } else if !live {
            // Over the limit because of other pools: a pool without a usable connection still
            // gets one, or its waiters could never be served (as the HTTP/1.1 pool does).
            cluster.stats.increment(ClusterStat.cxOverflow)
            forceAcquireConnectionSlot()
            connect()
        } else {
            cluster.stats.increment(ClusterStat.cxOverflow)
        }
    }

    private func tryAcquireConnectionSlot() -> Bool { cluster.tryAcquireConnectionSlot(for: host) }

    private func forceAcquireConnectionSlot() { cluster.forceAcquireConnectionSlot(for: host) }

    /// Opens a connection; the caller holds a `connections` slot for it.
    private func connect() {
        let config = cluster.config
        let stats = cluster.stats
        let host = self.host
        stats.increment(ClusterStat.cxTotal)
        stats.increment(ClusterStat.cxHTTP2Total)
        cluster.resources.markTraffic()
        host.counters.cxTotal += 1
        connecting += 1
        let connection = UpstreamHTTP2Connection(
            configuredLimit: config.http2Options.maxConcurrentStreams, maxStreamsPerConnection: config.maxRequestsPerConnection,
            useTLS: host.tls != nil
        )
        connection.pool = self
        connection.startTimeout = config.connectTimeout
        connection.resources = cluster.resources
        connection.hostSlot = config.perHostMaxConnections != nil ? host.health : nil
        var tlsHandlers: NIOLoopBound<[any ChannelHandler]>?
        var handshake: EventLoopFuture<UpstreamTLS.Handshake>?
        if let tls = host.tls {
            switch UpstreamTLS.handlers(tls, cluster: cluster, host: host) {
            case .success(let built):
                tlsHandlers = NIOLoopBound(built.handlers, eventLoop: cluster.eventLoop)
                handshake = built.handshake
            case .failure(let error):
                connectFailed(connection, error)
                return
            }
        }
        let boundTLS = tlsHandlers
        let bound = NIOLoopBound(connection, eventLoop: cluster.eventLoop)
        let options = config.http2Options
        cluster.clientBootstrap()
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let boundTLS { try sync.addHandlers(boundTLS.value) }
                    var settings = NIOHTTP2Handler.ConnectionConfiguration()
                    settings.initialSettings = [
                        HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
                        HTTP2Setting(parameter: .initialWindowSize, value: options.initialStreamWindowSize),
                        HTTP2Setting(parameter: .enablePush, value: 0),
                    ]
                    var stream = NIOHTTP2Handler.StreamConfiguration()
                    stream.targetWindowSize = options.initialStreamWindowSize
                    // Requests of several downstream streams leave in one write per loop tick.
                    try sync.addHandler(FlushCoalescingHandler())
                    let multiplexer = try sync.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: settings, streamConfiguration: stream
                    ) { pushed in
                        // Server push is disabled in SETTINGS; refuse anything the server opens.
                        pushed.close()
                    }
                    bound.value.multiplexer = multiplexer
                    try sync.addHandler(bound.value)
                }
            }
            .connect(to: host.address)
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { result in
                UpstreamTLS.finishConnect(
                    result, handshake: handshake, timeout: config.connectTimeout, stats: stats,
                    ready: { channel, alpn in
                        if config.upstreamProtocol == .alpn, host.tls != nil, alpn != "h2" {
                            // `auto_config`: the host chose HTTP/1.1. Its requests move to the
                            // HTTP/1.1 pool; the waiting ones are sent again there at once.
                            host.prefersHTTP1 = true
                            channel.close(promise: nil)
                            self.connectFailed(connection, ProxyError(.refusedStream), countFailure: false)
                        } else {
                            self.connected(connection)
                        }
                    },
                    failed: { self.connectFailed(connection, $0) }
                )
            }
    }

    private func connected(_ connection: UpstreamHTTP2Connection) {
        connecting -= 1
        connection.established = true
        cluster.stats.record(ClusterStat.cxConnectTime, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- connection.startedAt))
        cluster.stats.adjust(ClusterStat.cxActive, by: 1)
        host.counters.cxActive += 1
        connections.append(connection)
        let stats = cluster.stats
        connection.startIdleTimer(cluster.config.idleTimeout) { [unowned connection] in
            stats.increment(ClusterStat.cxIdleTimeout)
            connection.close()
        }
        serveWaiters()
    }

    /// The connection could not be made: its waiters fail (each as a connect failure, which the
    /// retry policy may retry), as the HTTP/1.1 pool fails the request it connected for.
    private func connectFailed(_ connection: UpstreamHTTP2Connection, _ error: ProxyError, countFailure: Bool = true) {
        connecting -= 1
        connection.releaseSlot()
        if countFailure {
            cluster.stats.increment(ClusterStat.cxConnectFail)
            host.counters.cxConnectFail += 1
        }
        let failing = waiters
        waiters.removeAll()
        for waiter in failing { waiter(.failure(error)) }
    }

    func streamClosed(on connection: UpstreamHTTP2Connection) {
        if !waiters.isEmpty { serveWaiters() }
    }

    func capacityChanged(on connection: UpstreamHTTP2Connection) {
        if !waiters.isEmpty { serveWaiters() }
    }

    func connectionGoingAway(_ connection: UpstreamHTTP2Connection) {
        if !waiters.isEmpty { serveWaiters() }
    }

    func connectionReachedMaxRequests(_ connection: UpstreamHTTP2Connection) {
        cluster.stats.increment(ClusterStat.cxMaxRequests)
        connection.retire()
    }

    func connectionClosed(_ connection: UpstreamHTTP2Connection) {
        if let index = connections.firstIndex(where: { $0 === connection }) {
            connections.remove(at: index)
        }
        let stats = cluster.stats
        stats.adjust(ClusterStat.cxActive, by: -1)
        stats.increment(ClusterStat.cxDestroy)
        stats.record(ClusterStat.cxLength, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- connection.startedAt))
        stats.increment(ClusterStat.cxDestroyRemote)
        host.counters.cxActive -= 1
        if !waiters.isEmpty { serveWaiters() }
    }

    /// The host left the cluster (or the worker stops): no new streams; open ones finish.
    func drainIdle() {
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter(.failure(ProxyError(.noHealthyUpstream))) }
        for connection in connections { connection.retire() }
    }
}

@available(*, unavailable)
extension HTTP2ConnectionPool: Sendable {}

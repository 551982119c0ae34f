import NIOCore
import NIOHTTP1
import NIOPosix
import SkiffCore
import SkiffTelemetry
import SkiffTLS

/// HTTP/1.1 connections from one worker to one upstream host.
///
/// Idle connections are kept (most recently used first, at most `maxIdle`) and closed after the
/// cluster's idle timeout; a connection returns here only when its previous exchange completed
/// cleanly, and is retired after `max_requests_per_connection`. No locks: the pool, its
/// connections and the requests using them share one event loop.
public final class HTTP1ConnectionPool {
    /// The most idle connections kept per host per worker.
    public static let maxIdle = 1024

    public typealias Completion = (Result<UpstreamHTTP1Connection, ProxyError>) -> Void

    public let host: UpstreamHost
    private unowned let cluster: UpstreamCluster
    private var idle: [UpstreamHTTP1Connection] = []
    /// Requests waiting for a connection because the cluster is at `max_connections`; bounded by
    /// `max_pending_requests` (a pending slot is held by each).
    private var waiters = CircularBuffer<Completion>()
    /// Connections of this pool, connecting or open.
    private var connectionCount = 0

    init(host: UpstreamHost, cluster: UpstreamCluster) {
        self.host = host
        self.cluster = cluster
    }

    public var idleCount: Int { idle.count }

    /// Calls `completion` with a connection ready for a new request: an idle one at once, or a new
    /// one once connected, or — at the cluster's `max_connections` — the next one this pool frees.
    /// Without an idle connection the request is pending and needs a `max_pending_requests` slot;
    /// none left fails it at once with `overflow` (503 UO). Always called on the worker's loop.
    public func acquire(_ completion: @escaping Completion) {
        while let connection = idle.popLast() {
            if connection.isActive {
                completion(.success(connection))
                return
            }
        }
        let limits = cluster.config.circuitBreakers
        let resources = cluster.resources
        guard resources.tryAcquire(.pendingRequests, limit: limits.maxPendingRequests) else {
            cluster.stats.increment(ClusterStat.rqPendingOverflow)
            completion(.failure(ProxyError(.overflow)))
            return
        }
        let served: Completion = { result in
            resources.release(.pendingRequests)
            completion(result)
        }
        if tryAcquireConnectionSlot() {
            connect(served)
        } else if connectionCount == 0 {
            // Over the limit because of other pools: a pool with no connection at all still gets
            // one, or its pending requests could never be served (Envoy does the same).
            cluster.stats.increment(ClusterStat.cxOverflow)
            forceAcquireConnectionSlot()
            connect(served)
        } else {
            cluster.stats.increment(ClusterStat.cxOverflow)
            waiters.append(served)
        }
    }

    /// Hands a freed capacity to the oldest waiter: a connection back from a request, or room
    /// for a new one after a close.
    private func serveWaiter(with connection: UpstreamHTTP1Connection?) -> Bool {
        guard let waiter = waiters.popFirst() else { return false }
        if let connection {
            cluster.eventLoop.assumeIsolatedUnsafeUnchecked().execute {
                if connection.isActive {
                    waiter(.success(connection))
                } else {
                    self.waiters.prepend(waiter)
                    self.connectForWaiters()
                }
            }
        } else {
            connect(waiter)
        }
        return true
    }

    private func connectForWaiters() {
        guard !waiters.isEmpty else { return }
        if tryAcquireConnectionSlot() {
            _ = serveWaiter(with: nil)
        } else if connectionCount == 0 {
            forceAcquireConnectionSlot()
            _ = serveWaiter(with: nil)
        }
    }

    private func tryAcquireConnectionSlot() -> Bool { cluster.tryAcquireConnectionSlot(for: host) }

    private func forceAcquireConnectionSlot() { cluster.forceAcquireConnectionSlot(for: host) }

    /// Connects for `completion`; the caller holds a `connections` slot for it.
    private func connect(_ completion: @escaping Completion) {
        let config = cluster.config
        let stats = cluster.stats
        let host = self.host
        stats.increment(ClusterStat.cxTotal)
        stats.increment(ClusterStat.cxHTTP1Total)
        cluster.resources.markTraffic()
        stats.increment(ClusterStat.rqPendingTotal)
        stats.adjust(ClusterStat.rqPendingActive, by: 1)
        host.counters.cxTotal += 1
        let connection = UpstreamHTTP1Connection()
        connection.pool = self
        connection.resources = cluster.resources
        connection.hostSlot = cluster.config.perHostMaxConnections != nil ? host.health : nil
        connectionCount += 1
        let bufferLimit = config.bufferLimitBytes
        let bound = NIOLoopBound(connection, eventLoop: cluster.eventLoop)
        var tlsHandlers: NIOLoopBound<[any ChannelHandler]>?
        var handshake: EventLoopFuture<UpstreamTLS.Handshake>?
        if let tls = host.tls {
            switch UpstreamTLS.handlers(tls, cluster: cluster, host: host) {
            case .success(let built):
                tlsHandlers = NIOLoopBound(built.handlers, eventLoop: cluster.eventLoop)
                handshake = built.handshake
            case .failure(let error):
                stats.adjust(ClusterStat.rqPendingActive, by: -1)
                connection.releaseSlot()
                connectionCount -= 1
                stats.increment(ClusterStat.cxConnectFail)
                completion(.failure(error))
                connectForWaiters()
                return
            }
        }
        let boundTLS = tlsHandlers
        cluster.clientBootstrap()
            .channelOption(.writeBufferWaterMark, value: .init(low: bufferLimit / 2, high: bufferLimit))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let boundTLS {
                        try channel.pipeline.syncOperations.addHandlers(boundTLS.value)
                    }
                    // Bytes behind a `101 Switching Protocols` are handed on when the decoder
                    // makes way for an upgrade tunnel.
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes)
                    try channel.pipeline.syncOperations.addHandler(bound.value)
                }
            }
            .connect(to: host.address)
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { result in
                UpstreamTLS.finishConnect(
                    result, handshake: handshake, timeout: config.connectTimeout, stats: stats,
                    ready: { _, _ in self.connected(connection, host: host, completion) },
                    failed: { self.connectFailed(connection, host: host, $0, completion) }
                )
            }
    }

    private func connected(_ connection: UpstreamHTTP1Connection, host: UpstreamHost, _ completion: @escaping Completion) {
        connection.established = true
        cluster.stats.record(ClusterStat.cxConnectTime, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- connection.startedAt))
        cluster.stats.adjust(ClusterStat.rqPendingActive, by: -1)
        cluster.stats.adjust(ClusterStat.cxActive, by: 1)
        host.counters.cxActive += 1
        completion(.success(connection))
    }

    private func connectFailed(_ connection: UpstreamHTTP1Connection, host: UpstreamHost, _ error: ProxyError, _ completion: @escaping Completion) {
        cluster.stats.adjust(ClusterStat.rqPendingActive, by: -1)
        connection.releaseSlot()
        connectionCount -= 1
        cluster.stats.increment(ClusterStat.cxConnectFail)
        host.counters.cxConnectFail += 1
        completion(.failure(error))
        connectForWaiters()
    }

    func release(_ connection: UpstreamHTTP1Connection) {
        if let max = cluster.config.maxRequestsPerConnection, connection.requestsSent >= max {
            cluster.stats.increment(ClusterStat.cxMaxRequests)
            connection.close()
            return
        }
        if serveWaiter(with: connection) {
            return
        }
        guard idle.count < Self.maxIdle else {
            connection.close()
            return
        }
        idle.append(connection)
        let stats = cluster.stats
        connection.startIdleTimer(cluster.config.idleTimeout) { [unowned connection] in
            stats.increment(ClusterStat.cxIdleTimeout)
            connection.close()
        }
    }

    func connectionClosed(_ connection: UpstreamHTTP1Connection, remote: Bool) {
        if let index = idle.firstIndex(where: { $0 === connection }) {
            idle.remove(at: index)
        }
        let stats = cluster.stats
        stats.adjust(ClusterStat.cxActive, by: -1)
        stats.increment(ClusterStat.cxDestroy)
        stats.record(ClusterStat.cxLength, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- connection.startedAt))
        stats.increment(remote ? ClusterStat.cxDestroyRemote : ClusterStat.cxDestroyLocal)
        host.counters.cxActive -= 1
        connectionCount -= 1
        connectForWaiters()
    }

    /// Closes every idle connection.
    func drainIdle() {
        let closing = idle
        idle = []
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting {
            waiter(.failure(ProxyError(.noHealthyUpstream)))
        }
        for connection in closing {
            connection.close()
        }
    }
}

@available(*, unavailable)
extension HTTP1ConnectionPool: Sendable {}

/// Envoy-style text for a failed connect ("delayed connect error: Connection refused").
public enum ConnectErrorText {
    public static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            return "delayed connect error: \(errnoText(io.errnoCode))"
        }
        if let multi = error as? NIOConnectionError, let first = multi.connectionErrors.first {
            return describe(first.error)
        }
        return "\(error)"
    }

    static func errnoText(_ code: Int32) -> String {
        switch code {
        case 111: return "Connection refused"
        case 113: return "No route to host"
        case 101: return "Network is unreachable"
        case 110: return "Connection timed out"
        default: return "errno \(code)"
        }
    }
}

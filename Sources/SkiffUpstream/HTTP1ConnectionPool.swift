import NIOCore
import NIOHTTP1
import NIOPosix
import SkiffCore
import SkiffTelemetry

/// HTTP/1.1 connections from one worker to one upstream host.
///
/// Idle connections are kept (most recently used first, at most `maxIdle`) and closed after the
/// cluster's idle timeout; a connection returns here only when its previous exchange completed
/// cleanly, and is retired after `max_requests_per_connection`. No locks: the pool, its
/// connections and the requests using them share one event loop.
public final class HTTP1ConnectionPool {
    /// The most idle connections kept per host per worker.
    public static let maxIdle = 1024

    public let host: UpstreamHost
    private unowned let cluster: UpstreamCluster
    private var idle: [UpstreamHTTP1Connection] = []

    init(host: UpstreamHost, cluster: UpstreamCluster) {
        self.host = host
        self.cluster = cluster
    }

    public var idleCount: Int { idle.count }

    /// Calls `completion` with a connection ready for a new request: an idle one at once, or a new
    /// one once connected. Always called on the worker's event loop.
    public func acquire(_ completion: @escaping (Result<UpstreamHTTP1Connection, ProxyError>) -> Void) {
        while let connection = idle.popLast() {
            if connection.isActive {
                completion(.success(connection))
                return
            }
        }
        connect(completion)
    }

    private func connect(_ completion: @escaping (Result<UpstreamHTTP1Connection, ProxyError>) -> Void) {
        let config = cluster.config
        let stats = cluster.stats
        let host = self.host
        stats.increment(ClusterStat.cxTotal)
        stats.increment(ClusterStat.cxHTTP1Total)
        stats.increment(ClusterStat.rqPendingTotal)
        stats.adjust(ClusterStat.rqPendingActive, by: 1)
        host.counters.cxTotal += 1
        let connection = UpstreamHTTP1Connection()
        connection.pool = self
        let bufferLimit = config.bufferLimitBytes
        let bound = NIOLoopBound(connection, eventLoop: cluster.eventLoop)
        ClientBootstrap(group: cluster.eventLoop)
            .connectTimeout(config.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: bufferLimit / 2, high: bufferLimit))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(bound.value)
                }
            }
            .connect(to: host.address)
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { result in
                stats.adjust(ClusterStat.rqPendingActive, by: -1)
                switch result {
                case .success:
                    stats.adjust(ClusterStat.cxActive, by: 1)
                    host.counters.cxActive += 1
                    completion(.success(connection))
                case .failure(let error):
                    stats.increment(ClusterStat.cxConnectFail)
                    host.counters.cxConnectFail += 1
                    if case ChannelError.connectTimeout = error {
                        stats.increment(ClusterStat.cxConnectTimeout)
                        completion(.failure(ProxyError(.connectTimeout)))
                    } else {
                        completion(.failure(ProxyError(.connectFailure(ConnectErrorText.describe(error)))))
                    }
                }
            }
    }

    func release(_ connection: UpstreamHTTP1Connection) {
        if let max = cluster.config.maxRequestsPerConnection, connection.requestsSent >= max {
            cluster.stats.increment(ClusterStat.cxMaxRequests)
            connection.close()
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
        stats.increment(remote ? ClusterStat.cxDestroyRemote : ClusterStat.cxDestroyLocal)
        host.counters.cxActive -= 1
    }

    /// Closes every idle connection.
    func drainIdle() {
        let closing = idle
        idle = []
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

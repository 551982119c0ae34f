import NIOCore
import SkiffCore
import SkiffTelemetry
import SkiffTLS

/// Everything one event loop's connections share: its clusters and pools, its statistics, a fast
/// random source and the cached `date` header. One per worker; touched only on `eventLoop`, which
/// is why none of it needs a lock.
public final class Worker {
    public let eventLoop: any EventLoop
    public let index: Int
    public let stats: WorkerStats
    public let clusters: ClusterManager
    public var random = FastRandom()
    public var date = HTTPDateCache()
    /// RDS route tables, by name.
    public let routes = RouteRegistry()
    /// Listeners by name: what a newly accepted connection is configured from.
    public var listeners: [String: ActiveListener] = [:]

    /// TLS contexts, shared by every worker.
    public let tls: TLSContextRegistry

    public init(eventLoop: any EventLoop, index: Int, tls: TLSContextRegistry = TLSContextRegistry()) {
        self.eventLoop = eventLoop
        self.index = index
        self.stats = WorkerStats()
        self.tls = tls
        self.clusters = ClusterManager(eventLoop: eventLoop, stats: stats, tls: tls)
    }
}

@available(*, unavailable)
extension Worker: Sendable {}

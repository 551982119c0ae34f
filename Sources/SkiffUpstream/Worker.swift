import Logging
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
    /// Envoy's drain-close decision while `/healthcheck/fail` holds: HTTP/1.1 responses say
    /// `connection: close`.
    public var drainClose = false
    /// Accepted connections whose original destination was restored (`SO_ORIGINAL_DST`), by
    /// channel: read for `%DOWNSTREAM_LOCAL_ADDRESS%`, chain matching and `ORIGINAL_DST`
    /// clusters. Entries leave when the connection closes.
    public var originalDestinations: [ObjectIdentifier: SocketAddress] = [:]

    /// The address `channel` (an accepted connection) was sent to.
    public func localAddress(of channel: any Channel) -> SocketAddress? {
        originalDestinations.isEmpty ? channel.localAddress : originalDestinations[ObjectIdentifier(channel)] ?? channel.localAddress
    }

    /// TLS contexts, shared by every worker.
    public let tls: TLSContextRegistry
    /// Data-path events worth a log line (an authorization denial), at most `logBudget` a second
    /// per worker so a flood of denials cannot turn into a flood of log writes.
    public let logger: Logger
    static let logBudget = 10
    private var logWindow: UInt64 = 0
    private var loggedInWindow = 0
    /// Lines dropped by the budget, reported with the next line that gets through.
    private var droppedLines = 0

    public init(
        eventLoop: any EventLoop, index: Int, tls: TLSContextRegistry = TLSContextRegistry(), logger: Logger = Logger(label: "skiff"),
        statsConfig: StatsConfig = StatsConfig()
    ) {
        self.eventLoop = eventLoop
        self.index = index
        self.stats = WorkerStats(config: statsConfig)
        self.istio = IstioStats(config: statsConfig)
        self.tls = tls
        self.logger = logger
        self.clusters = ClusterManager(eventLoop: eventLoop, stats: stats, tls: tls)
    }

    /// This worker's access log batches, one per destination.
    private var accessLogBuffers: [AccessLogConfig.Sink: AccessLogBuffer] = [:]

    /// The worker's batch for an access log destination (opened on first use); nil when it cannot
    /// be opened (the configuration was checked when loaded, so only a vanished directory).
    /// The last destination asked for: most listeners log to one file, and comparing the same
    /// path string is a pointer check where hashing it is not.
    public func accessLogBuffer(_ sink: AccessLogConfig.Sink) -> AccessLogBuffer? {
        if let last = lastAccessLogBuffer, last.sink.destination == sink { return last }
        if let existing = accessLogBuffers[sink] {
            lastAccessLogBuffer = existing
            return existing
        }
        guard let opened = try? AccessLogSinks.shared.sink(sink) else { return nil }
        let buffer = AccessLogBuffer(sink: opened, eventLoop: eventLoop)
        accessLogBuffers[sink] = buffer
        lastAccessLogBuffer = buffer
        return buffer
    }

    private var lastAccessLogBuffer: AccessLogBuffer?

    /// `node.id`, for the spans' `node_id` tag.
    public var nodeID = ""
    /// The server's trace exporters.
    public var spanSinks: SpanSinks?
    /// Istio's standard metrics on this worker, and this workload's labels for them.
    public let istio: IstioStats
    public var localIstio = IstioMetadata() {
        didSet { localIstioHeader = PeerMetadata.encode(localIstio) }
    }
    /// `localIstio` as `x-envoy-peer-metadata` sends it.
    public private(set) var localIstioHeader = PeerMetadata.encode(IstioMetadata())
    /// Spans head sampling dropped but the outcome keeps (Skiff's tail decision).
    public var tailSampling = TailSampling()

    /// This worker's span batches, one per tracer (created on first use; nil when the tracer's
    /// exporter cannot be built, e.g. its collector cluster has no endpoint).
    private var spanBuffers: [TracingConfig.Provider: SpanBuffer] = [:]

    public func spanBuffer(_ provider: TracingConfig.Provider) -> SpanBuffer? {
        if let existing = spanBuffers[provider] { return existing }
        guard let sink = spanSinks?.sink(for: provider) else { return nil }
        let buffer = SpanBuffer(sink: sink, eventLoop: eventLoop)
        spanBuffers[provider] = buffer
        return buffer
    }

    /// Spans dropped because this worker's buffers were full.
    public var droppedSpans: Int { spanBuffers.values.reduce(0) { $0 + $1.dropped } }

    /// Appends `record`'s line to each access log whose filter admits it.
    public func writeAccessLogs(_ logs: [AccessLogConfig], _ record: AccessLogRecord) {
        for log in logs {
            if let filter = log.filter, !filter.admits(record) { continue }
            accessLogBuffer(log.sink)?.append(log.format, record)
        }
    }

    /// Logs `message` at info level unless this second's budget is spent.
    public func logEvent(_ message: @autoclosure () -> String) {
        let second = ContinuousClockReading.now() / 1_000_000_000
        if second != logWindow {
            logWindow = second
            loggedInWindow = 0
        }
        guard loggedInWindow < Self.logBudget else {
            droppedLines += 1
            return
        }
        loggedInWindow += 1
        let dropped = droppedLines
        droppedLines = 0
        logger.info("\(message())\(dropped > 0 ? " (\(dropped) similar lines dropped)" : "")")
    }
}

@available(*, unavailable)
extension Worker: Sendable {}

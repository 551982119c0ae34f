import Logging
import NIOCore
import NIOPosix
import SkiffAdmin
import SkiffCore
import SkiffTelemetry
import SkiffTransport
import SkiffTLS
import SkiffUpstream
import SkiffXDS
import Synchronization

/// The composition root: event loops, workers, listeners, the admin endpoint and DNS refresh.
///
/// `start` builds one `Worker` per event loop, installs the snapshot's clusters on every worker
/// (on that worker's loop), binds every listener on every worker, and binds the admin address.
/// `run` serves until `shutdown` (SIGTERM, `POST /quitquitquit`, or the caller) and then drains.
public final class SkiffServer: Sendable {
    public let snapshot: BootstrapSnapshot
    public let options: ServerOptions
    let group: MultiThreadedEventLoopGroup
    let workers: [NIOLoopBound<Worker>]
    /// Every TLS context (listeners and clusters), shared by the workers.
    public let tls: TLSContextRegistry
    /// Tag extraction for `/stats/prometheus`, from the bootstrap's `stats_config`.
    public let statsTags: TagProducer
    /// Trace exporters, shared by the workers.
    let spanSinks: SpanSinks
    private let reference = ServerReference()
    /// Wake the health checker and outlier detection's tick when clusters or hosts change.
    let healthCheckDoorbell = Doorbell()
    let outlierDoorbell = Doorbell()
    private let startedAt = wallClockSeconds()
    let state = Mutex(State())

    struct State {
        var listeners: [String: ListenerBinder.Bound] = [:]
        /// The configured address of each bound listener (an update to another address rebinds).
        var listenerAddresses: [String: SocketAddressConfig] = [:]
        var listenerConfigs: [String: ListenerConfig] = [:]
        var clusterConfigs: [String: ClusterConfig] = [:]
        var admin: AdminServer?
        var live = false
        /// False until the control plane's first configuration is in (or timed out).
        var initialized = true
        var draining = false
        /// `POST /healthcheck/fail` (until `/healthcheck/ok`).
        var healthCheckFailed = false
        /// A graceful `/drain_listeners` has started (later ones are ignored, as in Envoy).
        var adminDrainStarted = false
        /// Listeners whose sockets were closed by a drain (`listener_manager.listener_stopped`).
        var stoppedListeners: Set<String> = []
        var quit: AsyncStream<Void>.Continuation?
        var quitRequested = false
        var resolved: [String: [ResolvedEndpoint]] = [:]
        var ads: ADSClient?
        var controlPlaneConnected = false
        /// Circuit-breaker counts per cluster, shared by the workers.
        var clusterResources: [String: ClusterResources] = [:]
        /// Outlier-detection state per cluster and host address, shared by the workers.
        var hostHealth: [String: [SocketAddress: HostHealth]] = [:]
        var healthCheckStats: [String: HealthCheckStats] = [:]
        /// Ejection counts from outlier detection's interval tick (success rate, failure
        /// percentage), by stat suffix.
        var outlierTickStats: [String: [String: Int64]] = [:]
        /// SDS clients for secrets with their own source, by source cluster, and their tasks.
        var sdsClients: [String: SDSClient] = [:]
        var sdsTasks: [Task<Void, Never>] = []
        /// `membership_change`: host set changes per cluster.
        var membershipChanges: [String: Int64] = [:]
        /// `listener_manager.*` and `cluster_manager.*` counters.
        var managers = ManagerCounters()
        /// `cluster.<name>.update_*` of DNS clusters: every resolution, and whether it changed hosts.
        var dnsUpdates: [String: DNSUpdateCounts] = [:]
        /// `server.initialization_time_ms`: from start until serving (with a control plane, until
        /// its first configuration is applied).
        var initializationMillis: Int64?
    }

    private init(
        snapshot: BootstrapSnapshot, options: ServerOptions, group: MultiThreadedEventLoopGroup, workers: [NIOLoopBound<Worker>],
        tls: TLSContextRegistry
    ) {
        self.tls = tls
        self.statsTags = (try? TagProducer(snapshot.stats)) ?? .defaults
        let reference = self.reference
        self.spanSinks = SpanSinks { provider in reference.value?.makeSpanSink(provider) }
        self.snapshot = snapshot
        self.options = options
        self.group = group
        self.workers = workers
    }

    /// Builds workers, installs clusters, binds listeners and the admin endpoint.
    public static func start(_ snapshot: BootstrapSnapshot, options: ServerOptions = ServerOptions()) async throws -> SkiffServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.concurrency)
        var workers: [NIOLoopBound<Worker>] = []
        let tls = TLSContextRegistry()
        for (index, loop) in group.makeIterator().enumerated() {
            let worker = try await loop.submit { NIOLoopBound(
                    Worker(eventLoop: loop, index: index, tls: tls, logger: options.logger, statsConfig: snapshot.stats), eventLoop: loop
                ) }.get()
            workers.append(worker)
        }
        let server = SkiffServer(snapshot: snapshot, options: options, group: group, workers: workers, tls: tls)
        server.reference.set(server)
        for worker in workers {
            let sinks = server.spanSinks
            try await worker.eventLoop.submit {
                worker.value.spanSinks = sinks
                worker.value.nodeID = snapshot.node.id
                worker.value.localIstio = snapshot.node.istio
                worker.value.tailSampling = options.tailSampling
            }.get()
        }
        if let dynamic = snapshot.dynamic {
            let ads = ADSClient(config: dynamic, snapshot: snapshot, sink: server, logger: options.logger)
            server.state.withLock {
                $0.ads = ads
                $0.initialized = false
            }
        }
        do {
            try await server.installClusters()
            try await server.bindListeners()
            if let admin = snapshot.admin {
                let statsConfig = snapshot.stats
                let adminServer = try await AdminServer.bind(
                    host: admin.host, port: admin.port, group: group, backend: server,
                    stats: AdminStats(buckets: { statsConfig.buckets(for: $0) })
                )
                server.state.withLock { $0.admin = adminServer }
            }
        } catch {
            await server.stop()
            throw error
        }
        server.state.withLock { $0.live = true }
        server.markInitialized()
        if options.trimStartupMemory {
            StartupMemoryTrim.run()
        }
        return server
    }

    /// The bound address of a listener (by name), after `start`.
    public func listenerAddress(named name: String) -> SocketAddress? {
        state.withLock { $0.listeners[name]?.address }
    }

    public var adminAddress: SocketAddress? {
        state.withLock { $0.admin?.address }
    }

    // MARK: Startup

    /// A bootstrap's certificates must load: Skiff refuses to start without them, as Envoy does.
    private func installClusters() async throws {
        let failures = tls.prepare(clients: snapshot.clusters.flatMap(\.allTLS).filter { $0.common.sdsSources.isEmpty })
        if let first = failures.first {
            throw StartupError("cluster TLS: \(first)")
        }
        await upsertClusters(snapshot.clusters)
    }

    private func bindListeners() async throws {
        for listener in snapshot.listeners {
            // Secrets from their own SDS source arrive later: such chains refuse connections until then.
            let failures = tls.prepare(servers: listener.filterChains.compactMap(\.tls).filter { $0.common.sdsSources.isEmpty })
            if let first = failures.first {
                throw StartupError("listener \(listener.name) TLS: \(first)")
            }
            try await installListener(listener)
        }
    }

    // MARK: Running

    /// Serves until shutdown is requested, then drains and stops.
    ///
    /// Order matters: listeners close and in-flight requests drain first, then the admin
    /// endpoint and its connection tasks finish, and only then do the event loops shut down
    /// (a task still writing on a loop that is gone would wait forever).
    public func run() async {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let alreadyQuit = state.withLock { state -> Bool in
            state.quit = continuation
            return state.quitRequested
        }
        let (admin, ads) = state.withLock { ($0.admin, $0.ads) }
        await withTaskGroup(of: Void.self) { group in
            if let admin {
                group.addTask { await admin.run() }
            }
            if let ads {
                group.addTask { await ads.run() }
            }
            group.addTask { await DNSRefresher(server: self).run() }
            group.addTask { await self.sweepOutliers() }
            group.addTask { await HealthChecker(server: self).run() }
            group.addTask { await self.watchCertificates() }
            if !alreadyQuit {
                for await _ in stream { break }
            }
            await self.closeListenersAndDrain()
            await self.closeAdmin()
            self.stopSpanSinks()
            self.reference.clear()
            for task in self.state.withLock({ $0.sdsTasks }) { task.cancel() }
            group.cancelAll()
            await group.waitForAll()
        }
        await shutdownLoops()
    }

    /// Asks `run` to drain and return.
    public func requestQuit() {
        state.withLock { state in
            state.quitRequested = true
            state.live = false
            state.quit?.yield()
            state.quit?.finish()
        }
    }

    /// Stops a server whose `run` is not running (a failed start, or the demo's `--no-wait`).
    public func stop() async {
        await closeListenersAndDrain()
        await closeAdmin()
        stopSpanSinks()
        reference.clear()
        await shutdownLoops()
    }

    /// Shutdown's drain (see `drainListeners`), then every listening socket closes.
    private func closeListenersAndDrain() async {
        await drainListeners()
        let listeners = state.withLock { state -> [ListenerBinder.Bound] in
            defer { state.listeners = [:] }
            return Array(state.listeners.values)
        }
        for listener in listeners {
            for channel in listener.channels {
                try? await channel.close()
            }
        }
    }

    private func closeAdmin() async {
        let admin = state.withLock { state -> AdminServer? in
            defer { state.admin = nil }
            return state.admin
        }
        await admin?.close()
    }

    private func shutdownLoops() async {
        for worker in workers {
            try? await worker.eventLoop.submit { worker.value.clusters.shutdown() }.get()
        }
        options.logger.debug("shutting down event loops")
        try? await group.shutdownGracefully()
    }

    // MARK: Cluster updates from DNS

    func updateResolved(cluster: String, endpoints: [ResolvedEndpoint]) async {
        let health = state.withLock { state -> [SocketAddress: HostHealth]? in
            state.dnsUpdates[cluster, default: DNSUpdateCounts()].resolved(changed: state.resolved[cluster] != endpoints)
            if state.resolved[cluster] == endpoints { return nil }
            if Set((state.resolved[cluster] ?? []).map(\.address)) != Set(endpoints.map(\.address)) {
                state.membershipChanges[cluster, default: 0] += 1
            }
            state.resolved[cluster] = endpoints
            let shared = Self.sharedHealth(
                state.hostHealth[cluster] ?? [:], for: endpoints, resources: state.clusterResources[cluster],
                healthChecked: state.clusterConfigs[cluster]?.healthCheck != nil
            )
            state.hostHealth[cluster] = shared
            return shared
        }
        guard let health else { return }
        ringBackgroundLoops()
        options.logger.info("cluster \(cluster): \(endpoints.count) hosts after DNS refresh")
        for worker in workers {
            try? await worker.eventLoop.submit { worker.value.clusters.updateHosts(cluster: cluster, resolved: endpoints, health: health) }.get()
        }
    }

    // MARK: Reading workers

    func perWorker<T: Sendable>(_ body: @escaping @Sendable (Worker) -> T) async -> [T] {
        var out: [T] = []
        for worker in workers {
            if let value = try? await worker.eventLoop.submit({ body(worker.value) }).get() {
                out.append(value)
            }
        }
        return out
    }

    var uptimeSeconds: Int { Int(wallClockSeconds() - startedAt) }

    /// Records `server.initialization_time_ms` once, when the server first counts as initialized.
    func markInitialized() {
        let millis = Int64((wallClockSeconds() - startedAt) * 1000)
        state.withLock { state in
            if state.initialized, state.initializationMillis == nil { state.initializationMillis = millis }
        }
    }

    /// A DNS refresh that failed: the hosts stay as they were (Envoy 1.40 counts it a successful
    /// update with no rebuild, measured).
    func countFailedResolution(cluster: String) {
        state.withLock { $0.dnsUpdates[cluster, default: DNSUpdateCounts()].resolved(changed: false) }
    }
    var isLiveNow: Bool { state.withLock { $0.live && $0.initialized && !$0.healthCheckFailed } }

    /// Envoy's server state names: LIVE, DRAINING, INITIALIZING.
    var currentStateName: String {
        state.withLock { state in
            if state.draining || state.healthCheckFailed || (!state.live && state.initialized) { return "DRAINING" }
            return state.initialized ? "LIVE" : "INITIALIZING"
        }
    }
}

/// Startup could not complete (a bootstrap's certificate did not load).
public struct StartupError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

extension SkiffServer {
    /// Certificate rotation: every second, contexts whose files changed are rebuilt (new
    /// handshakes use the new certificate; open connections keep theirs).
    func watchCertificates() async {
        var warned = Set<String>()
        var ticks = 0
        while !Task.isCancelled {
            if ticks % 60 == 0 { warnAboutExpiringCertificates(alreadyWarned: &warned) }
            ticks += 1
            try? await Task.sleep(for: .seconds(1))
            for note in tls.refresh() {
                options.logger.info("\(note)")
            }
        }
    }
}

extension SkiffServer: SecretSink {
    /// Secrets from a separate SDS source: contexts naming them rebuild (new handshakes use them
    /// at once), then ADS resources warming on them start serving.
    public func secretsArrived(_ secrets: [String: TLSSecret], from source: String) async {
        for note in tls.updateSecrets(secrets) {
            options.logger.info("SDS \(source): \(note)")
        }
        let ads = state.withLock { $0.ads }
        await ads?.externalSecretsArrived(Set(secrets.keys))
    }

    /// Subscribes names at their own SDS sources, starting a client per source cluster (a static
    /// cluster, e.g. istio-agent's `sds-grpc` Unix socket).
    func subscribeSDS(_ bySource: [String: Set<String>]) async {
        for (source, names) in bySource.sorted(by: { $0.key < $1.key }) {
            let client = state.withLock { state -> SDSClient? in
                if let existing = state.sdsClients[source] { return existing }
                guard let endpoint = state.clusterConfigs[source]?.endpoints.first?.address else { return nil }
                let created = SDSClient(source: source, target: endpoint, nodeBytes: snapshot.nodeBytes, sink: self, logger: options.logger)
                state.sdsClients[source] = created
                state.sdsTasks.append(Task { await created.run() })
                return created
            }
            guard let client else {
                options.logger.warning("SDS: secrets \(names.sorted()) name source cluster \(source), which is not a static cluster")
                continue
            }
            await client.subscribe(names)
        }
    }
}

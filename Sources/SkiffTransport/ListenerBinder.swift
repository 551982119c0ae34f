import NIOCore
import NIOHTTP1
import NIOPosix
import SkiffCore
import SkiffHTTP
import SkiffTelemetry
import SkiffUpstream
import NIOSSL
import SkiffTLS


/// Binds a listener and builds the pipeline of each accepted connection.
///
/// One listening socket per listener accepts on the first worker's loop and hands each accepted
/// connection to the next worker in turn (NIO's child-group distribution); from then on the
/// connection is served and closed on that one loop. A socket per worker with `SO_REUSEPORT`
/// was the first design, but with port 0 the kernel may hand the same port to two unrelated
/// reuse-port listeners, which then share connections; one accept socket cannot be confused so.
public enum ListenerBinder {
    /// A bound listener.
    public struct Bound: Sendable {
        public var name: String
        /// The address actually bound (port resolved when the config asked for 0).
        public var address: SocketAddress
        public var channels: [any Channel]
    }

    /// Binds `listener`'s address. Every worker must already hold the listener's `ActiveListener`
    /// under its name: accepted connections are configured from it, so updates need no rebind.
    public static func bind(_ listener: ListenerConfig, workers: WorkerDirectory) async throws -> Bound {
        let address = try SocketAddress(ipAddress: listener.address.host, port: listener.address.port)
        let name = listener.name
        guard listener.bindToPort else {
            // `bind_to_port: false`: connections arrive only handed off by a `use_original_dst` listener.
            return Bound(name: name, address: address, channels: [])
        }
        let channel = try await ServerBootstrap(group: workers.acceptLoop, childGroup: workers.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel, listener: name, worker: workers.worker(for: channel.eventLoop))
                }
            }
            .bind(to: address)
            .get()
        return Bound(name: listener.name, address: channel.localAddress ?? address, channels: [channel])
    }

    /// Builds an accepted connection's pipeline from the filter chain it matches, under the
    /// listener's current configuration on this worker. With `tls_inspector` the chain is chosen
    /// once the first bytes show whether a ClientHello (and which SNI and ALPN) arrived.
    static func configure(_ channel: any Channel, listener name: String, worker: Worker) throws {
        guard var active = worker.listeners[name] else {
            channel.close(promise: nil)
            return
        }
        var local = channel.localAddress
        if active.config.originalDst || active.config.useOriginalDst, let restored = OriginalDestination.read(channel) {
            // Recorded even when equal to the local address: "restored" is what lets an
            // ORIGINAL_DST cluster connect (as in Envoy, a connection without it gets no host).
            let id = ObjectIdentifier(channel)
            worker.originalDestinations[id] = restored
            channel.closeFuture.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                worker.originalDestinations.removeValue(forKey: id)
            }
            local = restored
            if active.config.useOriginalDst, let target = handOffTarget(for: restored, from: name, worker: worker) {
                active = target
            }
        }
        let listener = active.config
        let limit = listener.bufferLimitBytes
        try channel.syncOptions?.setOption(.writeBufferWaterMark, value: .init(low: limit / 2, high: limit))
        let stats = worker.stats.listener(listener.statPrefix)
        let perWorker = worker.stats.scope(.listenerWorker, workerScope(listener, worker))
        stats.increment(ListenerStat.cxTotal)
        stats.adjust(ListenerStat.cxActive, by: 1)
        perWorker.increment(ListenerWorkerStat.cxTotal)
        perWorker.adjust(ListenerWorkerStat.cxActive, by: 1)
        let startedAt = ContinuousClockReading.now()
        let counted = active
        counted.openConnections += 1
        channel.closeFuture.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            counted.openConnections -= 1
            stats.adjust(ListenerStat.cxActive, by: -1)
            perWorker.adjust(ListenerWorkerStat.cxActive, by: -1)
            stats.increment(ListenerStat.cxDestroy)
            stats.record(ListenerStat.cxLength, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- startedAt))
        }
        let localPort = local?.port
        let localIP = local?.ipAddress
        let remoteIP = channel.remoteAddress?.ipAddress
        let remotePort = channel.remoteAddress?.port
        guard listener.tlsInspector || listener.httpInspector else {
            let connection = FilterChainSelector.Connection(localPort: localPort, localIP: localIP, remoteIP: remoteIP, remotePort: remotePort)
            _ = try attach(channel, to: active, worker: worker, connection: connection)
            return
        }
        let inspector = TLSInspectorHandler(
            timeout: listener.listenerFiltersTimeout, continueOnTimeout: listener.continueOnListenerFiltersTimeout,
            inspectTLS: listener.tlsInspector, inspectHTTP: listener.httpInspector,
            onTimeout: { stats.increment(ListenerStat.preConnectionTimeout) },
            onRemoteClose: { stats.increment(ListenerStat.listenerFilterRemoteClose) },
            onEnd: { stats.adjust(ListenerStat.preConnectionActive, by: -1) }
        ) { detected in
            let connection = FilterChainSelector.Connection(
                localPort: localPort, transportProtocol: detected.isTLS ? "tls" : "raw_buffer",
                serverName: detected.serverName, alpn: detected.alpn, localIP: localIP, remoteIP: remoteIP, remotePort: remotePort
            )
            return (try? attach(channel, to: active, worker: worker, connection: connection)) ?? false
        }
        try channel.pipeline.syncOperations.addHandler(inspector)
        stats.adjust(ListenerStat.preConnectionActive, by: 1)
    }

    /// `<address>.worker_<n>`: the scope of a listener's per-worker stats.
    static func workerScope(_ listener: ListenerConfig, _ worker: Worker) -> String {
        "\(listener.statPrefix).worker_\(worker.index)"
    }

    /// Creates a new listener's statistics on `worker` before its first connection, as Envoy
    /// lists them (at zero) from the moment the listener exists: the listener's own, its
    /// per-worker ones, and those of every connection manager and TCP proxy in its chains, with
    /// the optional groups (`ssl`, `rbac`, `fault`) its configuration uses — once here, not per
    /// connection.
    public static func createStats(for listener: ListenerConfig, on worker: Worker) {
        let stats = worker.stats.listener(listener.statPrefix)
        if listener.filterChains.contains(where: { $0.tls != nil }) { stats.show("ssl") }
        _ = worker.stats.scope(.listenerWorker, workerScope(listener, worker))
        for chain in listener.filterChains {
            switch chain.filter {
            case .httpConnectionManager(let hcm):
                let http = worker.stats.http(hcm.statPrefix)
                if hcm.rbac != nil { http.show("rbac") }
                if hcm.fault != nil { http.show("fault") }
                if let scope = hcm.listenerStatScope { _ = worker.stats.scope(.listenerHTTP, scope) }
            case .tcpProxy(let tcp):
                _ = worker.stats.tcp(tcp.statPrefix)
            }
        }
    }

    /// `use_original_dst`: the listener at the original destination — its exact address, else the
    /// wildcard address of its family on that port — other than the one that accepted.
    static func handOffTarget(for destination: SocketAddress, from name: String, worker: Worker) -> ActiveListener? {
        guard let ip = destination.ipAddress, let port = destination.port, let bytes = IPBytes.parse(ip) else { return nil }
        var wildcard: ActiveListener?
        for (candidateName, candidate) in worker.listeners where candidateName != name && candidate.config.address.port == port {
            guard let candidateBytes = candidate.addressBytes else { continue }
            if candidateBytes == bytes { return candidate }
            if candidateBytes.allSatisfy({ $0 == 0 }), candidateBytes.count == bytes.count || candidateBytes.count == 16 {
                wildcard = wildcard ?? candidate
            }
        }
        return wildcard
    }
    /// Adds the chosen chain's handlers (TLS termination, then the terminal filter) behind
    /// whatever is in the pipeline. False (and the connection closed) when no chain matches or
    /// its TLS context could not be built.
    static func attach(_ channel: any Channel, to active: ActiveListener, worker: Worker, connection: FilterChainSelector.Connection) throws -> Bool {
        let listener = active.config
        let stats = worker.stats.listener(listener.statPrefix)
        guard let chain = FilterChainSelector.select(listener.filterChains, connection: connection) else {
            stats.increment(ListenerStat.noFilterChainMatch)
            channel.close(promise: nil)
            return false
        }
        let pipeline = channel.pipeline.syncOperations
        var session: TLSSession?
        if let tls = chain.tls {
            let lookup = worker.tls.server(tls)
            guard let context = lookup.context else {
                // The certificate did not load (or its SDS secret has not arrived): refuse, as
                // Envoy does for a chain that is not ready.
                stats.increment(ListenerStat.ssl.connectionError)
                channel.close(promise: nil)
                return false
            }
            let started = TLSSession(serverName: connection.serverName, localURI: lookup.ownURI)
            session = started
            let note = TLSVerifier.Note()
            if let verify = lookup.verifier(note) {
                try pipeline.addHandler(NIOSSLServerHandler(context: context, verificationCallback: verify))
            } else {
                try pipeline.addHandler(NIOSSLServerHandler(context: context))
            }
            try pipeline.addHandler(TLSHandshakeObserver(
                sanMatchers: lookup.sanMatchers, certificateRequired: tls.requireClientCertificate, note: note
            ) { outcome, identity, alpn in
                UpstreamTLS.count(outcome, in: stats, ssl: ListenerStat.ssl)
                if outcome == .handshake, identity == nil { stats.increment(ListenerStat.ssl.noCertificate) }
                started.peer = identity
                started.alpn = alpn
            })
        }
        if let rbac = chain.networkRBAC {
            try pipeline.addHandler(NetworkRBACHandler(config: rbac, session: session, stats: worker.stats.scope(.networkRBAC, rbac.statPrefix), worker: worker))
        }
        let id = ObjectIdentifier(channel)
        switch chain.filter {
        case .httpConnectionManager(let hcm):
            let manager = try HTTPPipeline.configure(pipeline, config: hcm, worker: worker, tlsSession: session)
            active.register(id, fingerprint: chain.fingerprint) { deadline in
                manager.startDrain(closeAt: deadline)
            }
        case .tcpProxy(let tcp):
            try pipeline.addHandler(TCPProxyHandler(config: tcp, worker: worker))
            // TCP has no request boundary to close at: the connection runs until the drain ends.
            active.register(id, fingerprint: chain.fingerprint) { deadline in
                channel.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
                    channel.close(promise: nil)
                }
            }
        }
        channel.closeFuture.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            active.unregister(id)
        }
        return true
    }
}

/// Finds the `Worker` of an event loop: each accepted connection's pipeline is built on its loop
/// with that loop's worker.
public struct WorkerDirectory: Sendable {
    public let group: any EventLoopGroup
    public let workers: [NIOLoopBound<Worker>]
    private let byLoop: [ObjectIdentifier: Int]

    public init(group: any EventLoopGroup, workers: [NIOLoopBound<Worker>]) {
        self.group = group
        self.workers = workers
        var byLoop: [ObjectIdentifier: Int] = [:]
        for (index, worker) in workers.enumerated() {
            byLoop[ObjectIdentifier(worker.eventLoop)] = index
        }
        self.byLoop = byLoop
    }

    var acceptLoop: any EventLoop { workers[0].eventLoop }

    /// The worker of `loop`; call on `loop`.
    public func worker(for loop: any EventLoop) -> Worker {
        workers[byLoop[ObjectIdentifier(loop)] ?? 0].value
    }
}

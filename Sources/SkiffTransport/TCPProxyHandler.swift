import NIOCore
import NIOPosix
import SkiffCore
import SkiffRouting
import SkiffTelemetry
import SkiffUpstream

/// The downstream side of `envoy.filters.network.tcp_proxy`: picks a cluster and host, connects
/// (up to `max_connect_attempts`), then pumps bytes both ways.
///
/// Reads from the downstream are held until the upstream is connected and whenever the upstream's
/// write buffer is full; the upstream side (a `ByteRelayEnd`, with this handler as its peer) does
/// the same in the other direction. Half-close is forwarded: when one side finishes sending, the other side's output is
/// shut down, and the connection closes once both directions are done.
public final class TCPProxyHandler: ChannelDuplexHandler, ByteRelayPeer {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let config: TCPProxyConfig
    private let worker: Worker
    private let stats: StatsScope
    private var context: ChannelHandlerContext?
    private var upstream: ByteRelayEnd?
    private var cluster: UpstreamCluster?
    private var host: UpstreamHost?
    private var attempts = 0
    /// Monotonic nanoseconds when the current upstream connect began.
    private var upstreamStartedAt: UInt64 = 0
    private var reads = ReadGate(held: true)
    private var early = CircularBuffer<ByteBuffer>()
    private var earlyEOF = false
    /// `idle_timeout`: no bytes either way for this long closes both sides.
    private var idleTimer: IdleTimer?
    var inputClosed = false
    private var closed = false
    /// The connection's access log record (nil without `access_log`).
    private var log: AccessLogRecord?
    /// `istio.stats`: the connection's series and bytes each way (nil without the filter).
    private var istio: (labels: IstioStats.Labels, received: UInt64, sent: UInt64)?
    private var logStart: UInt64 = 0

    public init(config: TCPProxyConfig, worker: Worker) {
        self.config = config
        self.worker = worker
        self.stats = worker.stats.tcp(config.statPrefix)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        stats.increment(TCPStat.cxTotal)
        if context.channel.isActive {
            begin()
        }
    }

    public func channelActive(context: ChannelHandlerContext) {
        begin()
        context.fireChannelActive()
    }

    private var begun = false

    private func begin() {
        guard !begun else { return }
        begun = true
        if !config.accessLogs.isEmpty, let channel = context?.channel {
            let record = AccessLogRecord.startingNow()
            record.protocolName = nil
            record.downstreamRemoteIP = channel.remoteAddress?.ipAddress
            record.downstreamRemotePort = channel.remoteAddress?.port
            let local = worker.localAddress(of: channel)
            record.downstreamLocalIP = local?.ipAddress
            record.downstreamLocalPort = local?.port
            logStart = ContinuousClockReading.now()
            log = record
        }
        if let timeout = config.idleTimeout, let context {
            idleTimer = IdleTimer(eventLoop: context.eventLoop, timeout: timeout) { [unowned self] in
                self.stats.increment(TCPStat.idleTimeout)
                self.closeBoth()
            }
            idleTimer?.resume()
        }
        connectNext()
    }

    private func connectNext() {
        attempts += 1
        let name = WeightedPicker.pick(config.target, random: worker.random.next())
        guard let cluster = worker.clusters.cluster(named: name) else {
            stats.increment(TCPStat.noRoute)
            log?.responseFlags = [.noClusterFound]
            refuse()
            return
        }
        self.cluster = cluster
        log?.upstreamCluster = name
        if let reporter = config.istioStats, istio == nil {
            let labels = Self.istioLabels(reporter, cluster: name, local: worker.localIstio)
            worker.istio.recordTCPOpened(labels)
            istio = (labels, 0, 0)
        }
        let destination = cluster.config.discovery == .originalDst ? context.flatMap { worker.originalDestinations[ObjectIdentifier($0.channel)] } : nil
        guard let host = cluster.pickHost(random: &worker.random, originalDestination: destination) else {
            log?.responseFlags = [.noHealthyUpstream]
            refuse()
            return
        }
        self.host = host
        if log != nil {
            log?.upstreamHost = AccessLogFormatter.address(host.address.ipAddress, host.address.port)
            log?.upstreamAttempts = attempts
        }
        cluster.stats.increment(ClusterStat.cxTotal)
        upstreamStartedAt = ContinuousClockReading.now()
        cluster.resources.markTraffic()
        host.counters.cxTotal += 1
        let upstream = ByteRelayEnd()
        upstream.peer = self
        let bound = NIOLoopBound(upstream, eventLoop: worker.eventLoop)
        let limit = cluster.config.bufferLimitBytes
        var tlsHandlers: NIOLoopBound<[any ChannelHandler]>?
        if let tls = host.tls {
            // Bytes written before the handshake ends wait in NIOSSL; a failed handshake closes
            // the upstream and with it the downstream.
            guard case .success(let built) = UpstreamTLS.handlers(tls, cluster: cluster, host: host) else {
                closeBoth()
                return
            }
            tlsHandlers = NIOLoopBound(built.handlers, eventLoop: worker.eventLoop)
        }
        let boundTLS = tlsHandlers
        cluster.clientBootstrap()
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.writeBufferWaterMark, value: .init(low: limit / 2, high: limit))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let boundTLS {
                        try channel.pipeline.syncOperations.addHandlers(boundTLS.value)
                    }
                    try channel.pipeline.syncOperations.addHandler(bound.value)
                }
            }
            .connect(to: host.address)
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { [weak self] result in
                self?.connectCompleted(result.map { _ in upstream }, cluster: cluster, host: host)
            }
    }

    private func connectCompleted(_ result: Result<ByteRelayEnd, any Error>, cluster: UpstreamCluster, host: UpstreamHost) {
        switch result {
        case .failure(let error):
            cluster.stats.increment(ClusterStat.cxConnectFail)
            host.counters.cxConnectFail += 1
            if case ChannelError.connectTimeout = error {
                cluster.stats.increment(ClusterStat.cxConnectTimeout)
            }
            if closed { return }
            if attempts < config.maxConnectAttempts {
                connectNext()
            } else {
                log?.responseFlags = [.upstreamConnectionFailure, .upstreamRetryLimitExceeded]  // As Envoy logs it.
                closeBoth()
            }
        case .success(let upstream):
            cluster.stats.adjust(ClusterStat.cxActive, by: 1)
            cluster.stats.record(ClusterStat.cxConnectTime, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- upstreamStartedAt))
            host.counters.cxActive += 1
            if closed {
                upstream.close()
                return
            }
            self.upstream = upstream
            while let buffer = early.popFirst() {
                upstream.relayed(buffer)
            }
            upstream.relayFlush()
            if earlyEOF {
                upstream.relayInputClosed()
            }
            setHoldReads(!upstream.isWritable)
        }
    }

    // MARK: Downstream → upstream

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        touch()
        log?.bytesReceived += buffer.readableBytes
        istio?.received &+= UInt64(buffer.readableBytes)
        stats.increment(TCPStat.rxBytes, by: UInt64(buffer.readableBytes))
        cluster?.stats.increment(ClusterStat.cxTxBytes, by: UInt64(buffer.readableBytes))
        if let upstream {
            upstream.relayed(buffer)
            if !upstream.isWritable {
                setHoldReads(true)
            }
        } else {
            early.append(buffer)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        upstream?.relayFlush()
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            if let upstream {
                upstream.relayInputClosed()  // Closes both once the upstream finished too.
            } else {
                earlyEOF = true
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func read(context: ChannelHandlerContext) {
        if reads.admit() { context.read() }
    }

    public func setHoldReads(_ hold: Bool) {
        if reads.set(held: hold) { context?.read() }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        upstream?.setHoldReads(!context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    // MARK: Upstream → downstream (ByteRelayPeer, driven by the upstream's relay end)

    public var isWritable: Bool { context?.channel.isWritable ?? false }

    public func relayed(_ buffer: ByteBuffer) {
        touch()
        log?.bytesSent += buffer.readableBytes
        istio?.sent &+= UInt64(buffer.readableBytes)
        stats.increment(TCPStat.txBytes, by: UInt64(buffer.readableBytes))
        cluster?.stats.increment(ClusterStat.cxRxBytes, by: UInt64(buffer.readableBytes))
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    public func relayFlush() {
        context?.flush()
    }

    public func relayInputClosed() {
        guard let context else { return }
        context.close(mode: .output, promise: nil)
        if inputClosed { closeBoth() }
    }

    public func relayClosed() {
        if let cluster, let host {
            cluster.stats.adjust(ClusterStat.cxActive, by: -1)
            cluster.stats.increment(ClusterStat.cxDestroy)
            cluster.stats.record(ClusterStat.cxLength, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- upstreamStartedAt))
            host.counters.cxActive -= 1
        }
        upstream = nil
        flushThenClose()
    }

    /// Istio's TCP labels: this workload on its side, the peer `unknown`, the destination service
    /// from the cluster's Istio name when it has one.
    static func istioLabels(_ reporter: IstioReporter, cluster: String, local: IstioMetadata) -> IstioStats.Labels {
        let service = IstioServiceName.fromCluster(cluster) ?? ("unknown", "unknown", reporter == .destination ? local.namespace : "unknown")
        return IstioStats.Labels(
            reporter: reporter, source: reporter == .source ? local : IstioMetadata(), sourcePrincipal: "unknown",
            destination: reporter == .destination ? local : IstioMetadata(), destinationPrincipal: "unknown",
            destinationService: service.0, destinationServiceName: service.1, destinationServiceNamespace: service.2,
            requestProtocol: "tcp", responseCode: "", grpcResponseStatus: "", responseFlags: "-",
            connectionSecurityPolicy: reporter == .destination ? "none" : "unknown"
        )
    }

    // MARK: Teardown

    public func channelInactive(context: ChannelHandlerContext) {
        closed = true
        idleTimer?.cancel()
        idleTimer = nil
        upstream?.relayClosed()
        if let istio {
            self.istio = nil
            worker.istio.recordTCPClosed(istio.labels, sent: istio.sent, received: istio.received)
        }
        if let record = log {
            log = nil
            record.durationNanos = ContinuousClockReading.now() - logStart
            worker.writeAccessLogs(config.accessLogs, record)
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeBoth()
    }

    private func flushThenClose() {
        guard let context, !closed else { return }
        closed = true
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)))
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { _ in context.close(promise: nil) }
    }

    /// Closes a connection no upstream will take (no cluster, no host: a blackhole) with FIN
    /// first, so a client whose bytes were never read sees end-of-stream, as under Envoy, not a
    /// reset.
    private func refuse() {
        guard let context, !closed else { return }
        closed = true
        context.close(mode: .output, promise: nil)
        context.close(promise: nil)
    }

    private func closeBoth() {
        upstream?.close()
        if !closed {
            closed = true
            context?.close(promise: nil)
        }
    }

    // MARK: Idle timeout

    @inline(__always)
    private func touch() {
        idleTimer?.touch()
    }
}

@available(*, unavailable)
extension TCPProxyHandler: Sendable {}

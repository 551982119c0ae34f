import EnvoyAPI
internal import GRPCCore
internal import GRPCNIOTransportHTTP2Posix
internal import GRPCProtobuf
import Logging
import NIOCore
import SkiffCore
import SwiftProtobuf

/// Where the ADS client delivers configuration: the server applies changes on every worker.
public protocol XDSConfigSink: Sendable {
    /// Applies clusters, then routes, then listeners, then removals. Returns listeners that could
    /// not be installed (a port in use), which are NACKed.
    func apply(_ changes: ADSStateMachine.Changes) async -> [(name: String, reason: String)]
    func controlPlaneConnectionChanged(connected: Bool)
}

/// The aggregated discovery service client: one gRPC stream to the control plane, SotW or Delta.
///
/// Control plane, not data path: it is an actor, and it hands finished configuration to the
/// workers through the sink. When the stream fails it keeps the last good configuration serving
/// indefinitely and reconnects with jittered exponential backoff (0.5 s doubling to 30 s),
/// re-subscribing every type with the versions it holds.
public actor ADSClient {
    private var machine: ADSStateMachine
    private let config: DynamicResourcesConfig
    private let node: Envoy_Config_Core_V3_Node
    private let sink: any XDSConfigSink
    private let logger: Logger
    private var outbound: AsyncStream<XDSRequest>.Continuation?
    private var backoff = Backoff()
    public private(set) var connected = false
    /// How long the last response of each type took from arrival to applied on every worker.
    public private(set) var lastApplySeconds: [XDSResourceType: Double] = [:]

    public init(config: DynamicResourcesConfig, snapshot: BootstrapSnapshot, sink: any XDSConfigSink, logger: Logger) {
        self.config = config
        self.sink = sink
        self.logger = logger
        var node = (try? Envoy_Config_Core_V3_Node(serializedBytes: snapshot.nodeBytes)) ?? Envoy_Config_Core_V3_Node()
        if node.userAgentName.isEmpty {
            node.userAgentName = "envoy"
        }
        if case nil = node.userAgentVersionType {
            node.userAgentVersion = "skiff/\(SkiffCore.version)"
        }
        self.node = node
        self.machine = ADSStateMachine(
            mode: config.apiType, initialFetchTimeout: config.initialFetchTimeout,
            staticClusters: Set(snapshot.clusters.map(\.name)), staticListeners: Set(snapshot.listeners.map(\.name)),
            cds: config.cdsOverADS, lds: config.ldsOverADS, now: wallClockSeconds()
        )
    }

    /// Secrets arrived from their own SDS source: resources warming on them start serving.
    public func externalSecretsArrived(_ names: Set<String>) async {
        let changes = machine.externalSecretsArrived(names)
        if !changes.upsertClusters.isEmpty || !changes.upsertListeners.isEmpty {
            _ = await sink.apply(changes)
        }
    }

    /// What `/config_dump` and `/stats` show.
    public var status: [XDSResourceType: XDSTypeStatus] { machine.status }
    public var warming: (clusters: [String], listeners: [String]) {
        (machine.warmingClusters.keys.sorted(), machine.warmingListeners.keys.sorted())
    }
    public var isInitialized: Bool { machine.initialized }

    /// Runs until cancelled.
    public func run() async {
        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try HTTP2ClientTransport.Posix(target: Self.target(config.target), transportSecurity: .plaintext)
        } catch {
            logger.error("ADS: cannot reach \(config.target): \(error)")
            return
        }
        let client = GRPCClient(transport: transport)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.runConnections() }
            group.addTask { await self.tickLoop() }
            group.addTask { await self.streamLoop(client) }
            await group.next()
            group.cancelAll()
            client.beginGracefulShutdown()
            await group.waitForAll()
        }
    }

    static func target(_ address: SocketAddressConfig) -> any ResolvableTarget {
        if let path = address.pipePath {
            return .unixDomainSocket(path: path)
        }
        if address.host.contains(":") {
            return .ipv6(address: address.host, port: address.port)
        }
        if address.host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return .ipv4(address: address.host, port: address.port)
        }
        return .dns(host: address.host, port: address.port)
    }

    private func streamLoop(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async {
        while !Task.isCancelled {
            do {
                switch config.apiType {
                case .stateOfTheWorld: try await runSotW(client)
                case .delta: try await runDelta(client)
                }
                logger.info("ADS: stream closed by the control plane")
            } catch {
                if Task.isCancelled { break }
                logger.warning("ADS: stream failed: \(error)")
            }
            streamEnded()
            let delay = backoff.next()
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        }
        streamEnded()
    }

    private func tickLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            await tick()
        }
    }

    // MARK: Streams

    private func startStream() -> AsyncStream<XDSRequest> {
        let (stream, continuation) = AsyncStream<XDSRequest>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        outbound?.finish()
        outbound = continuation
        for request in machine.streamStarted() {
            continuation.yield(request)
        }
        return stream
    }

    private func streamEnded() {
        outbound?.finish()
        outbound = nil
        machine.streamFailed()
        setConnected(false)
    }

    private func established() {
        backoff.reset()
        setConnected(true)
    }

    private func setConnected(_ value: Bool) {
        guard connected != value else { return }
        connected = value
        logger.info("ADS: \(value ? "connected to" : "disconnected from") \(config.target)")
        sink.controlPlaneConnectionChanged(connected: value)
    }

    private func runSotW(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
        let requests = startStream()
        let node = self.node
        let nodeOnce = config.setNodeOnFirstMessageOnly
        let request = StreamingClientRequest(of: Envoy_Service_Discovery_V3_DiscoveryRequest.self) { writer in
            // The producer runs once the HTTP/2 stream is open: that is "connected" for Envoy.
            await self.established()
            var first = true
            for await next in requests {
                try await writer.write(XDSWire.sotw(next, node: first || !nodeOnce ? node : nil))
                first = false
            }
        }
        var options = CallOptions.defaults
        options.waitForReady = false
        try await client.bidirectionalStreaming(
            request: request,
            descriptor: MethodDescriptor(fullyQualifiedService: XDSWire.service, method: "StreamAggregatedResources"),
            serializer: ProtobufSerializer<Envoy_Service_Discovery_V3_DiscoveryRequest>(),
            deserializer: ProtobufDeserializer<Envoy_Service_Discovery_V3_DiscoveryResponse>(),
            options: options
        ) { response in
            for try await message in response.messages {
                guard let decoded = XDSWire.response(message) else { continue }
                await self.handle(decoded)
            }
        }
    }

    private func runDelta(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
        let requests = startStream()
        let node = self.node
        let nodeOnce = config.setNodeOnFirstMessageOnly
        let request = StreamingClientRequest(of: Envoy_Service_Discovery_V3_DeltaDiscoveryRequest.self) { writer in
            await self.established()
            var first = true
            for await next in requests {
                try await writer.write(XDSWire.delta(next, node: first || !nodeOnce ? node : nil))
                first = false
            }
        }
        var options = CallOptions.defaults
        options.waitForReady = false
        try await client.bidirectionalStreaming(
            request: request,
            descriptor: MethodDescriptor(fullyQualifiedService: XDSWire.service, method: "DeltaAggregatedResources"),
            serializer: ProtobufSerializer<Envoy_Service_Discovery_V3_DeltaDiscoveryRequest>(),
            deserializer: ProtobufDeserializer<Envoy_Service_Discovery_V3_DeltaDiscoveryResponse>(),
            options: options
        ) { response in
            for try await message in response.messages {
                guard let decoded = XDSWire.response(message) else { continue }
                await self.handle(decoded)
            }
        }
    }

    // MARK: Processing

    private func handle(_ response: ADSStateMachine.Response) async {
        let started = ContinuousClockReading.now()
        guard let pending = machine.receive(response, now: wallClockSeconds()) else {
            logger.debug("ADS: ignored \(response.type.shortName) response with nonce \(response.nonce)")
            return
        }
        var extra: [(name: String, reason: String)] = []
        if !pending.changes.isEmpty {
            let failures = await sink.apply(pending.changes)
            if response.type == .listener {
                extra = failures
            } else {
                for failure in failures {
                    logger.error("ADS: listener \(failure.name): \(failure.reason)")
                }
            }
        }
        let requests = machine.acknowledge(pending, extraErrors: extra, now: wallClockSeconds())
        let elapsed = Double(ContinuousClockReading.now() - started) / 1e9
        lastApplySeconds[response.type] = elapsed
        let errors = pending.errors.count + extra.count
        if errors > 0 {
            logger.warning("ADS: \(response.type.shortName) version \(response.version) rejected in part: \(requests.last?.errorDetail ?? "")")
        } else {
            logger.info("ADS: \(response.type.shortName) version \(response.version): \(response.resources.count) resources applied in \(Int(elapsed * 1000)) ms")
        }
        for request in requests {
            outbound?.yield(request)
        }
    }

    private func tick() async {
        let (changes, requests) = machine.tick(now: wallClockSeconds())
        if !changes.isEmpty {
            let failures = await sink.apply(changes)
            for failure in failures {
                logger.error("ADS: listener \(failure.name): \(failure.reason)")
            }
        }
        for request in requests {
            outbound?.yield(request)
        }
    }
}

/// Jittered exponential backoff: each delay is uniform in [base/2, base], base doubling from
/// 0.5 s to 30 s (Envoy's defaults for the ADS stream).
struct Backoff {
    var initial = 0.5
    var maximum = 30.0
    private var current = 0.5
    private var random = FastRandom()

    mutating func next() -> Double {
        let base = current
        current = min(current * 2, maximum)
        let unit = Double(random.next() % 1_000_000) / 1_000_000
        return base / 2 + unit * base / 2
    }

    mutating func reset() {
        current = initial
    }
}

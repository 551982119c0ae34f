import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2Posix
internal import GRPCProtobuf
import Logging
import OTLPAPI
import SkiffCore
import SkiffTelemetry
import Synchronization

/// `envoy.tracers.opentelemetry`: spans go to an OTLP collector over gRPC
/// (`opentelemetry.proto.collector.trace.v1.TraceService/Export`), batched by a `SpanExporter`.
public enum OTLPExporter {
    public static func make(
        target: SocketAddressConfig, authority: String?, serviceName: String, logger: Logger,
        maxQueued: Int = 16_384, interval: Duration = .milliseconds(500)
    ) -> SpanExporter {
        SpanExporter(tracer: "opentelemetry", maxQueued: maxQueued) { queue in
            await run(target: target, authority: authority, serviceName: serviceName, queue: queue, interval: interval, logger: logger)
        }
    }

    static func run(
        target: SocketAddressConfig, authority: String?, serviceName: String, queue: SpanQueue, interval: Duration, logger: Logger
    ) async {
        let transport: HTTP2ClientTransport.Posix
        do {
            var config = HTTP2ClientTransport.Posix.Config.defaults
            config.http2.authority = authority
            transport = try HTTP2ClientTransport.Posix(target: GRPCTarget.resolve(target), transportSecurity: .plaintext, config: config)
        } catch {
            logger.error("OpenTelemetry tracer: cannot reach \(target): \(error)")
            return
        }
        let client = GRPCClient(transport: transport)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.runConnections() }
            group.addTask {
                await queue.drain(every: interval) { batch in
                    do {
                        try await export(batch, serviceName: serviceName, client: client)
                        return true
                    } catch {
                        logger.debug("OpenTelemetry tracer: export failed: \(error)")
                        return false
                    }
                }
            }
            await group.next()
            group.cancelAll()
            client.beginGracefulShutdown()
            await group.waitForAll()
        }
    }

    static func export(_ spans: [SpanRecord], serviceName: String, client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
        var options = CallOptions.defaults
        options.timeout = .seconds(5)
        _ = try await client.unary(
            request: ClientRequest(message: request(spans, serviceName: serviceName)),
            descriptor: MethodDescriptor(fullyQualifiedService: "opentelemetry.proto.collector.trace.v1.TraceService", method: "Export"),
            serializer: ProtobufSerializer<Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest>(),
            deserializer: ProtobufDeserializer<Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse>(),
            options: options
        ) { response in try response.message }
    }

    /// The OTLP request for a batch: one resource (`service.name`), one scope.
    public static func request(_ spans: [SpanRecord], serviceName: String) -> Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest {
        var resource = Opentelemetry_Proto_Resource_V1_Resource()
        resource.attributes = [
            keyValue("service.name", serviceName), keyValue("telemetry.sdk.language", "swift"),
            keyValue("telemetry.sdk.name", "skiff"), keyValue("telemetry.sdk.version", SkiffCore.version),
        ]
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scope.scope.name = "skiff"
        scope.scope.version = SkiffCore.version
        scope.spans = spans.map(span)
        var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resourceSpans.resource = resource
        resourceSpans.scopeSpans = [scope]
        var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
        request.resourceSpans = [resourceSpans]
        return request
    }

    static func span(_ record: SpanRecord) -> Opentelemetry_Proto_Trace_V1_Span {
        var span = Opentelemetry_Proto_Trace_V1_Span()
        span.traceID = bytes(record.traceIDHigh) + bytes(record.traceIDLow)
        span.spanID = bytes(record.spanID)
        if record.parentSpanID != 0 { span.parentSpanID = bytes(record.parentSpanID) }
        if let state = record.traceState { span.traceState = state }
        span.name = record.name
        span.kind = record.kind == .server ? .server : .client
        span.startTimeUnixNano = record.startUnixNanos
        span.endTimeUnixNano = record.startUnixNanos &+ record.durationNanos
        span.attributes = record.tags.map { keyValue($0.0, $0.1) }
        if record.error { span.status.code = .error }
        return span
    }

    static func keyValue(_ key: String, _ value: String) -> Opentelemetry_Proto_Common_V1_KeyValue {
        var pair = Opentelemetry_Proto_Common_V1_KeyValue()
        pair.key = key
        pair.value.stringValue = value
        return pair
    }

    static func bytes(_ value: UInt64) -> Data {
        var bigEndian = value.bigEndian
        return withUnsafeBytes(of: &bigEndian) { Data($0) }
    }
}

/// A tracer's exporter: workers `submit` batches into a bounded queue (`maxQueued` spans; past it
/// whole batches are dropped and counted, a request never waits), and one task, off the event
/// loops, sends what is queued. A failed send drops that batch (counted), as Envoy does, rather
/// than letting a dead collector grow memory.
public final class SpanExporter: SpanSink {
    /// `opentelemetry` or `zipkin`: the stats' `tracing.<tracer>.` prefix.
    public let tracer: String
    let queue: SpanQueue
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(tracer: String, maxQueued: Int, run: @escaping @Sendable (SpanQueue) async -> Void) {
        self.tracer = tracer
        self.queue = SpanQueue(limit: maxQueued)
        let queue = self.queue
        let started = Task { await run(queue) }
        task.withLock { $0 = started }
    }

    public func submit(_ spans: [SpanRecord]) {
        queue.push(spans)
    }

    public var counters: SpanQueue.Counters { queue.counters }

    public func stop() {
        task.withLock { $0?.cancel() }
    }

    deinit { stop() }
}

/// Spans waiting for an exporter, bounded; shared between workers (who push whole batches) and
/// the export task.
public final class SpanQueue: Sendable {
    public struct Counters: Sendable, Equatable {
        public var sent = 0
        /// Dropped because the queue was full.
        public var dropped = 0
        /// Dropped because the collector call failed.
        public var failed = 0
        public var flushes = 0

        public init() {}
    }

    private struct State {
        var spans: [SpanRecord] = []
        var counters = Counters()
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func push(_ spans: [SpanRecord]) {
        state.withLock { state in
            if state.spans.count + spans.count > limit {
                state.counters.dropped += spans.count
            } else {
                state.spans += spans
            }
        }
    }

    func take(max: Int) -> [SpanRecord]? {
        state.withLock { state in
            guard !state.spans.isEmpty else { return nil }
            let batch = Array(state.spans.prefix(max))
            state.spans.removeFirst(batch.count)
            state.counters.flushes += 1
            return batch
        }
    }

    func sent(_ count: Int) { state.withLock { $0.counters.sent += count } }
    func failed(_ count: Int) { state.withLock { $0.counters.failed += count } }

    /// Until cancelled: every `interval`, hands what is queued to `send` in batches of at most
    /// 512 spans, counting each batch sent (`send` returned true) or failed.
    func drain(every interval: Duration, _ send: ([SpanRecord]) async -> Bool) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            while let batch = take(max: 512), !Task.isCancelled {
                if await send(batch) { sent(batch.count) } else { failed(batch.count) }
            }
        }
    }

    public var counters: Counters { state.withLock { $0.counters } }
    public var depth: Int { state.withLock { $0.spans.count } }
}

/// A socket address as a gRPC target.
enum GRPCTarget {
    static func resolve(_ address: SocketAddressConfig) -> any ResolvableTarget {
        if let path = address.pipePath { return .unixDomainSocket(path: path) }
        if address.host.contains(":") { return .ipv6(address: address.host, port: address.port) }
        if address.host.allSatisfy({ $0.isNumber || $0 == "." }) { return .ipv4(address: address.host, port: address.port) }
        return .dns(host: address.host, port: address.port)
    }
}

import NIOCore
import SkiffCore
import Synchronization

/// One finished span, as the exporters need it. Tag values are strings, as Envoy's are.
public struct SpanRecord: Sendable {
    public enum Kind: Sendable { case server, client }

    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    public var spanID: UInt64
    /// 0 when the span starts the trace.
    public var parentSpanID: UInt64
    /// W3C `tracestate` the caller sent (OTLP keeps it on the span).
    public var traceState: String? = nil
    public var name: String
    public var kind: Kind
    public var startUnixNanos: UInt64
    public var durationNanos: UInt64
    public var tags: [(String, String)]
    /// The request failed (Envoy's `error: true` tag; OTLP status ERROR).
    public var error: Bool
    /// The proxy's address as the client saw it (Zipkin's `localEndpoint`).
    public var localIP: String
    public var localPort: Int

    public init(
        traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, parentSpanID: UInt64, name: String, kind: Kind,
        startUnixNanos: UInt64, durationNanos: UInt64, tags: [(String, String)], error: Bool, localIP: String = "", localPort: Int = 0
    ) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.startUnixNanos = startUnixNanos
        self.durationNanos = durationNanos
        self.tags = tags
        self.error = error
        self.localIP = localIP
        self.localPort = localPort
    }
}

/// Where a tracer's spans go: an exporter that sends them off the event loops. `submit` must
/// return at once (it only queues), and may drop a batch when its queue is full.
public protocol SpanSink: AnyObject, Sendable {
    func submit(_ spans: [SpanRecord])
}

/// A server's exporters, one per tracing provider, created on first use by the server's factory
/// (the exporters live in a target the data path does not import). Shared by its workers.
public final class SpanSinks: Sendable {
    private struct State {
        var sinks: [TracingConfig.Provider: any SpanSink] = [:]
        /// When building a provider's exporter last failed (its cluster had no endpoint): tried
        /// again only after `retryAfter`, so a misconfigured tracer costs no work per request.
        var failedAt: [TracingConfig.Provider: ContinuousClock.Instant] = [:]
    }

    static let retryAfter: Duration = .seconds(5)

    private let factory: @Sendable (TracingConfig.Provider) -> (any SpanSink)?
    private let state = Mutex(State())

    public init(factory: @escaping @Sendable (TracingConfig.Provider) -> (any SpanSink)?) {
        self.factory = factory
    }

    public func sink(for provider: TracingConfig.Provider) -> (any SpanSink)? {
        state.withLock { state in
            if let existing = state.sinks[provider] { return existing }
            let now = ContinuousClock.now
            if let failed = state.failedAt[provider], now - failed < Self.retryAfter { return nil }
            guard let created = factory(provider) else {
                state.failedAt[provider] = now
                return nil
            }
            state.failedAt[provider] = nil
            state.sinks[provider] = created
            return created
        }
    }

    public var all: [(provider: TracingConfig.Provider, sink: any SpanSink)] {
        state.withLock { $0.sinks.map { ($0.key, $0.value) } }
    }
}

/// A worker's finished spans for one provider, handed to the exporter in batches (every
/// `flushInterval`, or at `batchSize`): the data path pays for an append, never for a lock per
/// span or a network write. At most `maxSpans` wait; past that a span is dropped and counted.
public final class SpanBuffer {
    public let sink: any SpanSink
    private let eventLoop: any EventLoop
    private var spans: [SpanRecord] = []
    private let flushTimer = FlushTimer()
    public private(set) var dropped = 0
    static let batchSize = 256
    static let maxSpans = 4096
    static let flushInterval: TimeAmount = .milliseconds(200)

    public init(sink: any SpanSink, eventLoop: any EventLoop) {
        self.sink = sink
        self.eventLoop = eventLoop
    }

    public func append(_ span: SpanRecord) {
        guard spans.count < Self.maxSpans else {
            dropped += 1
            return
        }
        spans.append(span)
        if spans.count >= Self.batchSize {
            flush()
        } else if !flushTimer.isArmed {
            flushTimer.arm(on: eventLoop, after: Self.flushInterval) { [weak self] in self?.flush() }
        }
    }

    public func flush() {
        guard !spans.isEmpty else { return }
        sink.submit(spans)
        spans.removeAll(keepingCapacity: true)
    }
}

@available(*, unavailable)
extension SpanBuffer: Sendable {}

/// "Flush this batch a little later, once": a worker's batch (log lines, spans) schedules one
/// timer when its first item arrives instead of one per item. Used on one event loop only.
final class FlushTimer {
    private var scheduled = false
    /// Callers check this before `arm`: building the escaping closure costs an allocation
    /// even when the timer is already set (once per log line or span otherwise).
    var isArmed: Bool { scheduled }

    func arm(on eventLoop: any EventLoop, after delay: TimeAmount, _ flush: @escaping () -> Void) {
        guard !scheduled else { return }
        scheduled = true
        eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay) { [weak self] in
            self?.scheduled = false
            flush()
        }
    }
}

@available(*, unavailable)
extension FlushTimer: Sendable {}

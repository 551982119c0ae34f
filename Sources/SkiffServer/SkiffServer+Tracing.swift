import SkiffCore
import SkiffTelemetry
import SkiffTraceExport
import Synchronization

/// Trace exporters: built when a worker first finishes a span for a tracer, from the collector
/// cluster's current first endpoint (static, DNS or EDS alike), and reported in `/stats`.
extension SkiffServer {
    func makeSpanSink(_ provider: TracingConfig.Provider) -> (any SpanSink)? {
        guard let cluster = currentClusters.first(where: { $0.name == provider.cluster }),
              let endpoint = cluster.endpoints.first else {
            options.logger.warning("tracing: collector cluster \(provider.cluster) has no endpoint; spans are dropped")
            return nil
        }
        switch provider {
        case .openTelemetry(_, let authority, let serviceName):
            return OTLPExporter.make(target: endpoint.address, authority: authority, serviceName: serviceName, logger: options.logger)
        case .zipkin(_, let path, let hostname, let shared, let traceID128):
            return ZipkinExporter.make(
                target: endpoint.address, endpoint: path, hostname: hostname ?? provider.cluster,
                serviceName: snapshot.node.cluster, traceID128: traceID128, sharedSpanContext: shared, group: group, logger: options.logger
            )
        }
    }

    /// `tracing.opentelemetry.*` / `tracing.zipkin.*`, once a tracer has exported.
    func tracingSamples() -> [StatSample] {
        var totals: [String: SpanQueue.Counters] = [:]
        for (_, sink) in spanSinks.all {
            guard let exporter = sink as? SpanExporter else { continue }
            let counters = exporter.counters
            var total = totals[exporter.tracer] ?? SpanQueue.Counters()
            total.sent += counters.sent
            total.dropped += counters.dropped
            total.failed += counters.failed
            total.flushes += counters.flushes
            totals[exporter.tracer] = total
        }
        var out: [StatSample] = []
        for (name, counters) in totals {
            for (suffix, value) in [("spans_sent", counters.sent), ("spans_dropped", counters.dropped),
                                    ("spans_failed", counters.failed), ("timer_flushed", counters.flushes)] {
                out.append(StatSample(family: .tracing, scope: "", suffix: "\(name).\(suffix)", kind: .counter, value: Int64(value)))
            }
        }
        return out
    }

    func stopSpanSinks() {
        for (_, sink) in spanSinks.all {
            (sink as? SpanExporter)?.stop()
        }
    }
}

/// Lets the span sinks' factory reach the server built after it.
final class ServerReference: Sendable {
    private let server = Mutex<SkiffServer?>(nil)

    func set(_ value: SkiffServer) { server.withLock { $0 = value } }
    func clear() { server.withLock { $0 = nil } }
    var value: SkiffServer? { server.withLock { $0 } }
}

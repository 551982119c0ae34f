import NIOHTTP1
import SkiffCore
import SkiffTelemetry

/// The span a traced request carries from its start to its end.
struct ActiveSpan {
    var traceIDHigh: UInt64
    var traceIDLow: UInt64
    var spanID: UInt64
    /// The caller's span, 0 when this proxy starts the trace.
    var parentSpanID: UInt64
    var sampled: Bool
    var traceState: String?
    /// `x-request-id` as it goes upstream (carrying the decision, as Envoy's does).
    var requestID: String
    var startMonotonic: UInt64
    /// Zipkin: the caller sent the single `b3` header, which then goes upstream as it came.
    var singleB3: String? = nil
    /// The request came with `traceparent` or `tracestate` (replaced upstream, not added).
    var replacesW3CHeaders = false
}

/// `tracing` on the connection manager: the decision when the request arrives, the context
/// injected into the upstream request, and a span handed to the worker's buffer when the request
/// ends. Nothing here blocks or locks; the exporter sends batches from its own task.
///
/// What goes upstream is what Envoy 1.40 sends, measured side by side:
/// - OpenTelemetry: `traceparent` with this proxy's span as parent (the caller's trace, or a new
///   one), sampled only when both the decision and the caller's flag say so, and `tracestate`
///   (empty when none came). B3 headers are left alone.
/// - Zipkin (`shared_span_context`, the default): the server span shares the caller's span id,
///   so B3 headers go upstream unchanged; a new trace's span id is its trace id. W3C headers are
///   left alone.
extension RouterStream {
    func startTrace(_ tracing: TracingConfig) {
        let headers = request.headers
        let found = TraceHeaders(headers)
        var requestID = found.requestID ?? ""
        if requestID.isEmpty {
            requestID = RequestID.make(&worker.random)
        }
        let (reason, stampedID) = TraceSampling.decide(requestID: requestID, config: tracing, clientTraceID: found.clientTraceID)
        switch reason {
        case .sampling: connection.stats.increment(HTTPStat.tracingRandomSampling)
        case .serviceForced: connection.stats.increment(HTTPStat.tracingServiceForced)
        case .clientForced: connection.stats.increment(HTTPStat.tracingClientEnabled)
        case .notTraceable, .noTrace: connection.stats.increment(HTTPStat.tracingNotTraceable)
        }
        let b3 = tracing.provider.usesB3
        let parent = b3 ? Self.b3Context(headers) : found.traceparent.flatMap { TraceContext.parseTraceparent($0, traceState: found.tracestate) }
        var span = ActiveSpan(
            traceIDHigh: 0, traceIDLow: 0, spanID: worker.random.next() | 1, parentSpanID: 0,
            sampled: reason.traced && (parent?.sampled ?? true), traceState: parent?.traceState,
            requestID: stampedID, startMonotonic: ContinuousClockReading.now(),
            replacesW3CHeaders: found.traceparent != nil || found.tracestate != nil
        )
        if let parent {
            span.traceIDHigh = parent.traceIDHigh
            span.traceIDLow = parent.traceIDLow
            if b3, Self.sharedSpanContext(tracing) {
                span.spanID = parent.spanID
                span.parentSpanID = parent.parentSpanID
                span.singleB3 = headers.first(name: "b3")
            } else {
                span.parentSpanID = parent.spanID
            }
        } else if b3 {
            span.traceIDHigh = Self.traceID128(tracing) ? worker.random.next() : 0
            span.traceIDLow = span.spanID
        } else {
            span.traceIDHigh = worker.random.next()
            span.traceIDLow = worker.random.next() | 1
        }
        self.span = span
    }

    /// A span takes its tags from the access log record, so the record is kept for a sampled
    /// span, or for any span when a tail decision may keep it; an unsampled request (99 % of
    /// them at 1 % sampling) builds none.
    var spanNeedsRecord: Bool {
        guard let span else { return false }
        return span.sampled || worker.tailSampling.isEnabled
    }

    static func traceID128(_ tracing: TracingConfig) -> Bool {
        if case .zipkin(_, _, _, _, let wide) = tracing.provider { return wide }
        return true
    }

    static func sharedSpanContext(_ tracing: TracingConfig) -> Bool {
        if case .zipkin(_, _, _, let shared, _) = tracing.provider { return shared }
        return false
    }

    static func b3Context(_ headers: HTTPHeaders) -> TraceContext? {
        if let single = headers.first(name: "b3") {
            return TraceContext.parseB3Single(single).context
        }
        guard let traceID = headers.first(name: "x-b3-traceid"), let spanID = headers.first(name: "x-b3-spanid") else { return nil }
        return TraceContext.parseB3(
            traceID: traceID, spanID: spanID, sampled: headers.first(name: "x-b3-sampled"), flags: headers.first(name: "x-b3-flags"),
            parentSpanID: headers.first(name: "x-b3-parentspanid")
        )
    }

    /// The trace context for the upstream request (`x-request-id`, carrying the decision, is set
    /// with the connection manager's headers).
    func injectTrace(into headers: inout HTTPHeaders) {
        guard let span, let tracing = config.tracing else { return }
        if tracing.provider.usesB3 {
            if let single = span.singleB3 {
                headers.replaceOrAdd(name: "b3", value: single)
                return
            }
            let traceID = span.traceIDHigh == 0 ? Hex.string(span.traceIDLow) : Hex.string(span.traceIDHigh) + Hex.string(span.traceIDLow)
            headers.replaceOrAdd(name: "x-b3-traceid", value: traceID)
            headers.replaceOrAdd(name: "x-b3-spanid", value: Hex.string(span.spanID))
            if span.parentSpanID != 0 {
                headers.replaceOrAdd(name: "x-b3-parentspanid", value: Hex.string(span.parentSpanID))
            } else {
                headers.remove(name: "x-b3-parentspanid")
            }
            headers.replaceOrAdd(name: "x-b3-sampled", value: span.sampled ? "1" : "0")
        } else {
            let context = TraceContext(traceIDHigh: span.traceIDHigh, traceIDLow: span.traceIDLow, spanID: span.spanID, sampled: span.sampled)
            let traceparent = context.traceparent(spanID: span.spanID, sampled: span.sampled)
            if span.replacesW3CHeaders {
                headers.replaceOrAdd(name: "traceparent", value: traceparent)
                headers.replaceOrAdd(name: "tracestate", value: span.traceState ?? "")
            } else {
                // None came: added without first looking for ones to remove.
                headers.add(name: "traceparent", value: traceparent)
                headers.add(name: "tracestate", value: "")
            }
        }
    }

    /// Ends the span: a sampled one goes to the worker's buffer for its tracer.
    func finishTrace(_ record: AccessLogRecord) {
        guard let span, let tracing = config.tracing else { return }
        self.span = nil
        let failed = record.responseCode >= 500 || record.responseCode == 0
        let duration = ContinuousClockReading.now() &- span.startMonotonic
        var keep = span.sampled
        if !keep, worker.tailSampling.keeps(failed: failed, durationNanos: duration) {
            // Skiff's tail decision: the upstream saw "not sampled", but this outcome is worth
            // the span (counted, so operators can see how much it adds).
            keep = true
            connection.stats.increment(HTTPStat.tracingTailKept)
        }
        guard keep, let buffer = worker.spanBuffer(tracing.provider) else { return }
        var finished = SpanRecord(
            traceIDHigh: span.traceIDHigh, traceIDLow: span.traceIDLow, spanID: span.spanID, parentSpanID: span.parentSpanID,
            name: spanName(tracing, record), kind: tracing.egress ? .client : .server,
            startUnixNanos: UInt64(max(record.startTimeNanos, 0)),
            durationNanos: duration,
            tags: spanTags(tracing, record, span: span, failed: failed), error: failed,
            localIP: record.downstreamLocalIP ?? "", localPort: record.downstreamLocalPort ?? 0
        )
        finished.traceState = span.traceState
        buffer.append(finished)
    }

    /// The route's `decorator.operation` when set; otherwise what Envoy 1.40 names it:
    /// `ingress` / `egress` for OpenTelemetry, the request's authority for Zipkin.
    func spanName(_ tracing: TracingConfig, _ record: AccessLogRecord) -> String {
        if let operation = route?.decoratorOperation { return operation }
        if tracing.provider.usesB3 { return record.authority }
        return tracing.egress ? "egress" : "ingress"
    }

    /// Envoy's span tags, in its order (Zipkin spans have no `zone`).
    func spanTags(_ tracing: TracingConfig, _ record: AccessLogRecord, span: ActiveSpan, failed: Bool) -> [(String, String)] {
        var url = "\(record.scheme)://\(record.authority)\(record.path)"
        if url.utf8.count > tracing.maxPathTagLength { url = String(url.utf8.prefix(tracing.maxPathTagLength)) ?? url }
        var tags: [(String, String)] = [("node_id", worker.nodeID)]
        if !tracing.provider.usesB3 { tags.append(("zone", "")) }
        tags += [
            ("guid:x-request-id", span.requestID),
            ("http.url", url), ("http.method", record.method),
            ("downstream_cluster", request.headers.first(name: "x-envoy-downstream-service-cluster") ?? "-"),
            ("user_agent", request.headers.first(name: "user-agent") ?? "-"),
            ("http.protocol", record.protocolName ?? "-"),
            ("peer.address", record.downstreamRemoteIP ?? "-"),
            ("request_size", String(record.bytesReceived)), ("response_size", String(record.bytesSent)),
            ("component", "proxy"),
        ]
        if let cluster = record.upstreamCluster {
            tags.append(("upstream_cluster", cluster))
            tags.append(("upstream_cluster.name", cluster))
        }
        tags.append(("http.status_code", String(record.responseCode)))
        tags.append(("response_flags", record.responseFlags.isEmpty ? "-" : record.responseFlags.map(\.rawValue).joined(separator: ",")))
        if failed { tags.append(("error", "true")) }
        tags += tracing.literalTags
        for tag in tracing.headerTags {
            if let value = request.headers.first(name: tag.header) ?? tag.defaultValue { tags.append((tag.tag, value)) }
        }
        return tags
    }
}

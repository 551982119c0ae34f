import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SkiffCore
import SkiffTelemetry

/// `envoy.tracers.zipkin` with `HTTP_JSON`: spans POSTed as a Zipkin v2 JSON array to
/// `collector_endpoint` on the collector cluster, batched by a `SpanExporter`.
public enum ZipkinExporter {
    public static func make(
        target: SocketAddressConfig, endpoint: String, hostname: String?, serviceName: String, traceID128: Bool,
        sharedSpanContext: Bool = true, group: any EventLoopGroup, logger: Logger, maxQueued: Int = 16_384,
        interval: Duration = .milliseconds(500)
    ) -> SpanExporter {
        let host = hostname ?? target.host
        return SpanExporter(tracer: "zipkin", maxQueued: maxQueued) { queue in
            await queue.drain(every: interval) { batch in
                let body = json(batch, serviceName: serviceName, traceID128: traceID128, shared: sharedSpanContext)
                do {
                    return (200..<300).contains(try await HTTPPost.send(body, to: target, path: endpoint, host: host, group: group))
                } catch {
                    logger.debug("Zipkin tracer: report failed: \(error)")
                    return false
                }
            }
        }
    }

    /// Zipkin v2 JSON as Envoy 1.40 posts it: ids in hex, times in microseconds, a server span
    /// `shared` with its caller's (`shared_span_context`) and annotated `ss` at its end, tags as
    /// strings, the node's cluster as `localEndpoint.serviceName`.
    public static func json(_ spans: [SpanRecord], serviceName: String, traceID128: Bool, shared: Bool = true) -> String {
        var out = "["
        for (index, span) in spans.enumerated() {
            if index > 0 { out += "," }
            let traceID = traceID128 || span.traceIDHigh != 0
                ? Hex.string(span.traceIDHigh) + Hex.string(span.traceIDLow) : Hex.string(span.traceIDLow)
            out += "{\"traceId\":\"\(traceID)\",\"id\":\"\(Hex.string(span.spanID))\""
            if span.parentSpanID != 0 { out += ",\"parentId\":\"\(Hex.string(span.parentSpanID))\"" }
            out += ",\"kind\":\"\(span.kind == .server ? "SERVER" : "CLIENT")\",\"name\":\"\(jsonEscape(span.name))\""
            let start = span.startUnixNanos / 1000, end = (span.startUnixNanos &+ span.durationNanos) / 1000
            out += ",\"timestamp\":\(start),\"duration\":\(span.durationNanos / 1000)"
            let annotation = span.kind == .server ? "ss" : "cr"
            out += ",\"annotations\":[{\"timestamp\":\(end),\"value\":\"\(annotation)\"}]"
            if shared, span.kind == .server { out += ",\"shared\":true" }
            out += ",\"localEndpoint\":{\"serviceName\":\"\(jsonEscape(serviceName))\""
            if !span.localIP.isEmpty {
                out += span.localIP.contains(":") ? ",\"ipv6\":\"\(span.localIP)\"" : ",\"ipv4\":\"\(span.localIP)\""
                out += ",\"port\":0"
            }
            out += "},\"tags\":{"
            out += span.tags.map { "\"\(jsonEscape($0.0))\":\"\(jsonEscape($0.1))\"" }.joined(separator: ",")
            out += "}}"
        }
        return out + "]"
    }
}

/// One HTTP/1.1 POST on a fresh connection: the status code, or an error.
enum HTTPPost {
    static func send(_ body: String, to target: SocketAddressConfig, path: String, host: String, group: any EventLoopGroup) async throws -> Int {
        let loop = group.next()
        let promise = loop.makePromise(of: Int.self)
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StatusReader(promise: promise))
                }
            }
            .connect(host: target.host, port: target.port)
            .get()
        var headers = HTTPHeaders()
        headers.add(name: "host", value: host)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.utf8.count))
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timeout = loop.scheduleTask(in: .seconds(5)) { promise.fail(ChannelError.connectTimeout(.seconds(5))) }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    final class StatusReader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Int>
        var status = 0

        init(promise: EventLoopPromise<Int>) {
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body: break
            case .end: promise.succeed(status)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}

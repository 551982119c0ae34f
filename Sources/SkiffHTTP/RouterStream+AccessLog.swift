import NIOHTTP1
import SkiffCore
import SkiffTelemetry
import SkiffUpstream

/// The access log record a request builds as it goes (only when its connection manager has an
/// `access_log`: otherwise `log` stays nil and none of this runs).
extension RouterStream {
    /// Starts the record: request line, downstream addresses, peer identity.
    func startLog(authority: String) {
        let record = AccessLogRecord.startingNow()
        logStart = ContinuousClockReading.now()
        record.method = request.method.rawValue
        record.path = request.uri
        record.authority = authority
        record.requestHeaders = request.headers
        record.protocolName = connection.isHTTP2Stream ? "HTTP/2"
            : request.version == .http1_1 ? "HTTP/1.1" : "HTTP/\(request.version.major).\(request.version.minor)"
        record.downstreamRemoteIP = connection.remoteIP
        record.downstreamRemotePort = connection.remotePort
        record.downstreamLocalIP = connection.localIP
        record.downstreamLocalPort = connection.localPort
        if let session = connection.tlsSession {
            record.scheme = "https"
            if let uris = session.peer?.uris, !uris.isEmpty { record.peerURISAN = uris.joined(separator: ",") }
            record.requestedServerName = session.serverName
        }
        log = record
    }

    /// An attempt picked `host` (logged even when connecting to it then fails, as Envoy does).
    func logAttempt(on host: UpstreamHost) {
        guard log != nil else { return }
        log?.upstreamHost = host.displayName
        log?.upstreamAttempts = attempt
    }

    /// The request as it goes upstream: its headers after the proxy's changes, which is what
    /// Envoy's `%REQ()%` sees.
    func logUpstreamRequest(_ head: HTTPRequestHead) {
        guard log != nil else { return }
        log?.requestHeaders = head.headers
        if head.uri != request.uri { log?.originalPath = request.uri }
    }

    func logResponseHead(_ head: HTTPResponseHead) {
        guard log != nil else { return }
        log?.responseCode = Int(head.status.code)
        log?.responseHeaders = head.headers
        log?.responseDurationNanos = ContinuousClockReading.now() - logStart
    }

    /// Finishes the record: duration, cluster, upstream failure.
    func finishLog(flag: ResponseFlag?) -> AccessLogRecord? {
        guard let record = log else { return nil }
        log = nil
        if let flag, !record.responseFlags.contains(flag) { record.responseFlags.append(flag) }
        record.durationNanos = ContinuousClockReading.now() - logStart
        record.upstreamCluster = cluster?.config.name
        if let name = route?.name, !name.isEmpty { record.routeName = name }
        return record
    }
}

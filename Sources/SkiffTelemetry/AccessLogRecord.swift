#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOHTTP1
import SkiffCore

/// What one finished request leaves for its access log lines: the facts Envoy's command
/// operators print, gathered by the connection manager and the router as the request goes.
public struct AccessLogRecord {
    /// Wall-clock start, nanoseconds since 1970 (`%START_TIME%`).
    public var startTimeNanos: Int64 = 0
    public var method = ""
    public var path = ""
    public var authority = ""
    public var scheme = "http"
    /// The path before a `prefix_rewrite` (`x-envoy-original-path`), nil when not rewritten.
    public var originalPath: String?
    /// The request headers as forwarded (after the connection manager's and the route's
    /// changes, as Envoy's access log sees them), else as received.
    public var requestHeaders = HTTPHeaders()
    /// nil for a TCP connection (`-`).
    public var protocolName: String? = "HTTP/1.1"
    /// 0 when no response was sent.
    public var responseCode = 0
    public var responseHeaders: HTTPHeaders?
    public var responseTrailers: HTTPHeaders?
    public var responseFlags: [ResponseFlag] = []
    public var responseCodeDetails: String?
    public var bytesReceived = 0
    public var bytesSent = 0
    /// Monotonic nanoseconds from the start: last request byte, first and last response byte.
    public var requestDurationNanos: UInt64?
    public var responseDurationNanos: UInt64?
    public var durationNanos: UInt64?
    public var upstreamHost: String?
    public var upstreamCluster: String?
    public var upstreamLocalAddress: String?
    public var upstreamTransportFailureReason: String?
    public var upstreamAttempts = 0
    public var downstreamRemoteIP: String?
    public var downstreamRemotePort: Int?
    public var downstreamLocalIP: String?
    public var downstreamLocalPort: Int?
    public var peerURISAN: String?
    public var localURISAN: String?
    public var requestedServerName: String?
    public var routeName: String?
    public var connectionID: UInt64 = 0

    public init() {}

    /// A record starting now (wall clock, for `%START_TIME%`).
    public static func startingNow() -> AccessLogRecord {
        var record = AccessLogRecord()
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        record.startTimeNanos = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        return record
    }

    /// `%REQ(name)%`: pseudo-headers from the request line, the rest from the headers.
    func requestHeader(_ name: String) -> String? {
        switch name {
        case ":method": return method.isEmpty ? nil : method
        case ":path": return path.isEmpty ? nil : path
        case ":authority": return authority.isEmpty ? nil : authority
        case ":scheme": return scheme
        case "x-envoy-original-path": return originalPath ?? requestHeaders.first(name: name)
        case "host": return authority.isEmpty ? requestHeaders.first(name: name) : authority
        default: return requestHeaders.first(name: name)
        }
    }

    func responseHeader(_ name: String) -> String? {
        if name == ":status" { return responseCode == 0 ? nil : String(responseCode) }
        return responseHeaders?.first(name: name)
    }
}

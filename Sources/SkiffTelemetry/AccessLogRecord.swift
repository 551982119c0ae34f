#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOHTTP1
import SkiffCore

/// What one finished request leaves for its access log lines: the facts Envoy's command
/// operators print, gathered by the connection manager and the router as the request goes.
///
/// A class, not a struct: a request's record is filled in place by several handlers and then
/// read by each log, the span and Istio's metrics; as a struct held by the stream, every hand-off
/// copied it (a retain and a release per field: ~2,700 instructions per request measured under
/// callgrind). One record belongs to one request on one event loop and no access to a field
/// overlaps another, so the fields skip the runtime exclusivity check (each read of a class
/// property otherwise registers an access: that cost the class as much as the copies it saved).
public final class AccessLogRecord {
    /// Wall-clock start, nanoseconds since 1970 (`%START_TIME%`).
    @exclusivity(unchecked) public var startTimeNanos: Int64 = 0
    @exclusivity(unchecked) public var method = ""
    @exclusivity(unchecked) public var path = ""
    @exclusivity(unchecked) public var authority = ""
    @exclusivity(unchecked) public var scheme = "http"
    /// The path before a `prefix_rewrite` (`x-envoy-original-path`), nil when not rewritten.
    @exclusivity(unchecked) public var originalPath: String?
    /// The request headers as forwarded (after the connection manager's and the route's
    /// changes, as Envoy's access log sees them), else as received.
    @exclusivity(unchecked) public var requestHeaders = HTTPHeaders()
    /// nil for a TCP connection (`-`).
    @exclusivity(unchecked) public var protocolName: String? = "HTTP/1.1"
    /// 0 when no response was sent.
    @exclusivity(unchecked) public var responseCode = 0
    @exclusivity(unchecked) public var responseHeaders: HTTPHeaders?
    @exclusivity(unchecked) public var responseTrailers: HTTPHeaders?
    @exclusivity(unchecked) public var responseFlags: [ResponseFlag] = []
    @exclusivity(unchecked) public var responseCodeDetails: String?
    @exclusivity(unchecked) public var bytesReceived = 0
    @exclusivity(unchecked) public var bytesSent = 0
    /// Monotonic nanoseconds from the start: last request byte, first and last response byte.
    @exclusivity(unchecked) public var requestDurationNanos: UInt64?
    @exclusivity(unchecked) public var responseDurationNanos: UInt64?
    @exclusivity(unchecked) public var durationNanos: UInt64?
    @exclusivity(unchecked) public var upstreamHost: String?
    @exclusivity(unchecked) public var upstreamCluster: String?
    @exclusivity(unchecked) public var upstreamLocalAddress: String?
    @exclusivity(unchecked) public var upstreamTransportFailureReason: String?
    @exclusivity(unchecked) public var upstreamAttempts = 0
    @exclusivity(unchecked) public var downstreamRemoteIP: String?
    @exclusivity(unchecked) public var downstreamRemotePort: Int?
    @exclusivity(unchecked) public var downstreamLocalIP: String?
    @exclusivity(unchecked) public var downstreamLocalPort: Int?
    @exclusivity(unchecked) public var peerURISAN: String?
    @exclusivity(unchecked) public var localURISAN: String?
    @exclusivity(unchecked) public var requestedServerName: String?
    @exclusivity(unchecked) public var routeName: String?
    @exclusivity(unchecked) public var connectionID: UInt64 = 0

    public init() {}

    /// A record starting now (wall clock, for `%START_TIME%`).
    public static func startingNow() -> AccessLogRecord {
        let record = AccessLogRecord()
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        record.startTimeNanos = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        return record
    }

    /// `%REQ(name)%`: pseudo-headers from the request line, the rest from the headers.
    /// The names are lowercase (the format parser made them so). Most are ordinary headers, so
    /// the special names are told apart by first byte and length before any string compare.
    func requestHeader(_ name: String) -> String? {
        let utf8 = name.utf8
        if utf8.first == UInt8(ascii: ":") {
            switch name {
            case ":method": return method.isEmpty ? nil : method
            case ":path": return path.isEmpty ? nil : path
            case ":authority": return authority.isEmpty ? nil : authority
            case ":scheme": return scheme
            default: return requestHeaders.first(name: name)
            }
        }
        if utf8.count == 4, name == "host" {
            return authority.isEmpty ? requestHeaders.first(name: name) : authority
        }
        if utf8.count == 21, name == "x-envoy-original-path" {
            return originalPath ?? requestHeaders.first(name: name)
        }
        return requestHeaders.first(name: name)
    }

    func responseHeader(_ name: String) -> String? {
        if name == ":status" { return responseCode == 0 ? nil : String(responseCode) }
        return responseHeaders?.first(name: name)
    }
}

import NIOCore
import SkiffCore

/// One upstream endpoint as one worker sees it: its address, weight, live counters, and the
/// connection pool to it. Hosts survive DNS refreshes and config updates that keep their address,
/// so pooled connections and counters carry over.
public final class UpstreamHost {
    public let address: SocketAddress
    /// `ip:port`, as Envoy prints hosts in `/clusters`.
    public let displayName: String
    public internal(set) var weight: Int
    /// The control plane's `health_status` for this endpoint.
    public internal(set) var status: EndpointStatus = .healthy
    /// The TLS this host is reached with (the cluster's `transport_socket` or the matching
    /// `transport_socket_matches` entry); nil: plaintext.
    public internal(set) var tls: UpstreamTLSConfig?
    /// `auto_config`: this host's TLS handshake selected HTTP/1.1, so requests use that pool.
    public var prefersHTTP1 = false

    /// Requests in flight to this host (least-request balancing reads it).
    public internal(set) var activeRequests: Int = 0
    public var counters = HostCounters()
    /// Outlier-detection state, shared with this host's copies on the other workers.
    public internal(set) var health: HostHealth

    init(address: SocketAddress, weight: Int, health: HostHealth = HostHealth()) {
        self.health = health
        self.address = address
        self.displayName = UpstreamHost.display(address)
        self.weight = weight
    }

    public func requestStarted() {
        activeRequests += 1
        counters.rqTotal += 1
    }

    public func requestFinished(success: Bool, timedOut: Bool = false) {
        activeRequests -= 1
        if success {
            counters.rqSuccess += 1
        } else {
            counters.rqError += 1
        }
        if timedOut {
            counters.rqTimeout += 1
        }
    }

    static func display(_ address: SocketAddress) -> String {
        switch address {
        case .v4:
            return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        case .v6:
            return "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        default:
            return address.description
        }
    }
}

@available(*, unavailable)
extension UpstreamHost: Sendable {}

/// Per-host counters shown by `/clusters` (Envoy's `cluster::host::stat::value` lines).
public struct HostCounters: Sendable, Equatable {
    /// Envoy's `health_flags` text: the flags in Envoy's order, or `healthy`.
    public var healthFlags: String {
        var flags = ""
        if failedActiveCheck { flags += "/failed_active_hc" }
        if ejected { flags += "/failed_outlier_check" }
        switch status {
        case .unhealthy: flags += "/failed_eds_health"
        case .degraded: flags += "/degraded_eds_health"
        case .draining: flags += "/eds_status_draining"
        case .healthy: break
        }
        return flags.isEmpty ? "healthy" : flags
    }

    /// Ejected by outlier detection (`health_flags::/failed_outlier_check`), at report time.
    public var ejected = false
    /// Failing active health checks (`health_flags::/failed_active_hc`), at report time.
    public var failedActiveCheck = false
    /// The endpoint's EDS status, at report time.
    public var status: EndpointStatus = .healthy
    public var cxTotal: UInt64 = 0
    public var cxActive: Int64 = 0
    public var cxConnectFail: UInt64 = 0
    public var rqTotal: UInt64 = 0
    public var rqSuccess: UInt64 = 0
    public var rqError: UInt64 = 0
    public var rqTimeout: UInt64 = 0

    public init() {}

    public static func + (a: HostCounters, b: HostCounters) -> HostCounters {
        var r = a
        r.cxTotal += b.cxTotal
        r.cxActive += b.cxActive
        r.cxConnectFail += b.cxConnectFail
        r.rqTotal += b.rqTotal
        r.rqSuccess += b.rqSuccess
        r.rqError += b.rqError
        r.rqTimeout += b.rqTimeout
        return r
    }
}

import NIOCore

/// One upstream cluster (`envoy.config.cluster.v3.Cluster`) after translation.
public struct ClusterConfig: Sendable {
    /// How the cluster learns its hosts.
    public enum Discovery: String, Sendable {
        case staticHosts = "STATIC"
        case strictDNS = "STRICT_DNS"
        case logicalDNS = "LOGICAL_DNS"
        /// Endpoints come from the control plane (`ClusterLoadAssignment`, EDS).
        case eds = "EDS"
        /// Hosts are the connections' original destinations, made on demand (passthrough).
        case originalDst = "ORIGINAL_DST"
    }

    /// `ORIGINAL_DST`'s `original_dst_lb_config` and `cleanup_interval`.
    public struct OriginalDst: Sendable, Equatable {
        /// `use_http_header`: an HTTP request's `http_header_name` (default
        /// `x-envoy-original-dst-host`, "ip:port") overrides the connection's destination.
        public var useHTTPHeader = false
        public var headerName = "x-envoy-original-dst-host"
        /// `upstream_port_override`.
        public var portOverride: Int?
        /// `cleanup_interval` (default 5 s): hosts unused for that long are dropped.
        public var cleanupInterval: TimeAmount = .seconds(5)
        /// The most destinations one worker keeps at once (Skiff's bound; past it new
        /// destinations get no host until idle ones are cleaned up).
        public var maxHosts = 4096

        public init() {}
    }

    /// `lb_policy`.
    public enum LoadBalancerPolicy: Sendable, Equatable {
        case roundRobin
        /// Power of `choiceCount` random choices, fewest active requests wins.
        case leastRequest(choiceCount: Int)
        case random
    }

    /// `dns_lookup_family`.
    public enum DNSLookupFamily: String, Sendable {
        case auto = "AUTO"
        case v4Only = "V4_ONLY"
        case v6Only = "V6_ONLY"
        case v4Preferred = "V4_PREFERRED"
        case all = "ALL"
    }

    public var name: String
    public var discovery: Discovery
    /// `connect_timeout` (Envoy default 5 s).
    public var connectTimeout: TimeAmount
    public var lbPolicy: LoadBalancerPolicy
    public var endpoints: [EndpointConfig]
    /// `max_requests_per_connection` (nil: unlimited).
    public var maxRequestsPerConnection: Int?
    /// Upstream `common_http_protocol_options.idle_timeout` (Envoy default 1 h).
    public var idleTimeout: TimeAmount?
    /// `dns_refresh_rate` (Envoy default 5 s).
    public var dnsRefreshRate: TimeAmount
    public var dnsLookupFamily: DNSLookupFamily
    /// `per_connection_buffer_limit_bytes` (Envoy default 1 MiB).
    public var bufferLimitBytes: Int
    /// `eds_cluster_config.service_name`, or the cluster name: the assignment an EDS cluster
    /// subscribes to.
    public var edsServiceName: String?
    /// `circuit_breakers.thresholds` for the DEFAULT priority (Envoy's defaults when absent).
    public var circuitBreakers = CircuitBreakerThresholds()
    /// `circuit_breakers.per_host_thresholds[].max_connections` (DEFAULT priority), per host
    /// across workers.
    public var perHostMaxConnections: Int?
    /// `outlier_detection`; nil when absent (no ejection).
    public var outlierDetection: OutlierDetectionConfig? = nil
    /// `common_lb_config.healthy_panic_threshold` (default 50 %): below this share of usable
    /// hosts the load balancer ignores ejections (`lb_healthy_panic`).
    public var healthyPanicThreshold = 50
    /// `health_checks` (at most one is run, as Skiff supports one checker per cluster).
    public var healthCheck: HealthCheckConfig? = nil
    /// Which HTTP the cluster speaks to its hosts, and its HTTP/2 options.
    public var upstreamProtocol: UpstreamHTTPProtocol = .http1
    public var http2Options = HTTP2Options()
    /// `transport_socket` `envoy.transport_sockets.tls`: TLS to every host.
    public var tls: UpstreamTLSConfig?
    /// `transport_socket_matches`: per-endpoint TLS by endpoint metadata (Istio's `tlsMode`).
    public var transportSocketMatches: [TransportSocketMatch] = []
    /// Set for `ORIGINAL_DST` clusters.
    public var originalDst: OriginalDst?
    /// `upstream_bind_config.source_address`: the local address upstream connections bind
    /// (Istio binds inbound passthrough to 127.0.0.6 so the app sees a local peer).
    public var upstreamBindAddress: String?

    /// Envoy offers ALPN by the cluster's protocol when `alpn_protocols` is empty: `h2` for
    /// explicit HTTP/2, `h2,http/1.1` for `auto_config` (the handshake then decides).
    public mutating func applyProtocolALPN() {
        let offered: [String]
        // The context registry shares contexts by fingerprint: the offer must change it.
        let salt: UInt64
        switch upstreamProtocol {
        case .http2: (offered, salt) = (["h2"], 0x9E37_79B9_7F4A_7C15)
        case .alpn: (offered, salt) = (["h2", "http/1.1"], 0xC2B2_AE3D_27D4_EB4F)
        case .http1, .downstream: return
        }
        func offer(_ tls: inout UpstreamTLSConfig) {
            guard tls.common.alpn.isEmpty else { return }
            tls.common.alpn = offered
            tls.fingerprint ^= salt
        }
        if var tls {
            offer(&tls)
            self.tls = tls
        }
        for index in transportSocketMatches.indices {
            if var tls = transportSocketMatches[index].tls {
                offer(&tls)
                transportSocketMatches[index].tls = tls
            }
        }
    }

    /// The TLS an endpoint with `match` metadata uses: the first `transport_socket_matches`
    /// entry it satisfies, else the cluster's `transport_socket`.
    public func tls(forEndpointMetadata match: [String: String]) -> UpstreamTLSConfig? {
        for entry in transportSocketMatches where entry.match.allSatisfy({ match[$0.key] == $0.value }) {
            return entry.tls
        }
        return tls
    }

    public init(name: String, discovery: Discovery, endpoints: [EndpointConfig]) {
        self.name = name
        self.discovery = discovery
        self.connectTimeout = .seconds(5)
        self.lbPolicy = .roundRobin
        self.endpoints = endpoints
        self.maxRequestsPerConnection = nil
        self.idleTimeout = .hours(1)
        self.dnsRefreshRate = .seconds(5)
        self.dnsLookupFamily = .auto
        self.bufferLimitBytes = 1024 * 1024
        self.edsServiceName = nil
    }
}

/// One endpoint of a cluster's `load_assignment`.
public struct EndpointConfig: Sendable, Hashable {
    public var address: SocketAddressConfig
    /// `load_balancing_weight` (default 1).
    public var weight: Int
    /// `health_status` as the control plane reports it.
    public var status: EndpointStatus
    /// `metadata.filter_metadata["envoy.transport_socket_match"]` (string values), which picks a
    /// `transport_socket_matches` entry.
    public var socketMatch: [String: String]

    public init(address: SocketAddressConfig, weight: Int, status: EndpointStatus = .healthy, socketMatch: [String: String] = [:]) {
        self.address = address
        self.weight = weight
        self.status = status
        self.socketMatch = socketMatch
    }
}

/// `LbEndpoint.health_status` as Envoy's load balancer uses it.
public enum EndpointStatus: Sendable, Hashable {
    /// HEALTHY or UNKNOWN: used.
    case healthy
    /// UNHEALTHY or TIMEOUT: counted in the cluster's size but not used unless in panic
    /// (`/failed_eds_health`).
    case unhealthy
    /// DEGRADED: used for the share of traffic the healthy hosts cannot take (Envoy's
    /// overprovisioning factor 1.4), `/degraded_eds_health`.
    case degraded
    /// DRAINING: excluded from load balancing and from the cluster's size; connections already
    /// open finish (`/eds_status_draining`).
    case draining
}

/// Which cluster(s) a route or TCP proxy sends to.
public enum ClusterTarget: Sendable, Equatable {
    case single(String)
    /// Weighted choice per request (or connection); weights may be 0, `totalWeight` > 0.
    case weighted([WeightedClusterEntry], totalWeight: Int)

    /// Every cluster name this target may pick.
    public var clusterNames: [String] {
        switch self {
        case .single(let name): return [name]
        case .weighted(let entries, _): return entries.map(\.name)
        }
    }
}

public struct WeightedClusterEntry: Sendable, Equatable {
    public var name: String
    public var weight: Int

    public init(name: String, weight: Int) {
        self.name = name
        self.weight = weight
    }
}

/// One `circuit_breakers.thresholds` entry. Limits are per cluster across all workers.
public struct CircuitBreakerThresholds: Sendable, Equatable {
    public var maxConnections = 1024
    public var maxPendingRequests = 1024
    public var maxRequests = 1024
    public var maxRetries = 3
    /// `track_remaining`: publish `circuit_breakers.default.remaining_*` gauges.
    public var trackRemaining = false
    /// `retry_budget`: when set it replaces `max_retries`.
    public var retryBudget: RetryBudget?

    public init() {}

    /// The retries allowed at once: `max_retries`, or with a budget `budget_percent` of the
    /// active plus pending requests, never below `min_retry_concurrency`.
    public func retryLimit(activeRequests: Int, pendingRequests: Int) -> Int {
        guard let budget = retryBudget else { return maxRetries }
        let share = Int(budget.budgetPercent * Double(activeRequests + pendingRequests) / 100)
        return max(share, budget.minRetryConcurrency)
    }
}

/// `circuit_breakers.thresholds[].retry_budget` (Envoy's defaults: 20 %, at least 3).
public struct RetryBudget: Sendable, Equatable {
    public var budgetPercent: Double = 20
    public var minRetryConcurrency = 3

    public init(budgetPercent: Double = 20, minRetryConcurrency: Int = 3) {
        self.budgetPercent = budgetPercent
        self.minRetryConcurrency = minRetryConcurrency
    }
}

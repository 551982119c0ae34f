/// The families of statistics Skiff emits, with Envoy's names.
///
/// Each family lists its counters and gauges once; `StatsScope` stores them in arrays indexed by
/// slot, and the Prometheus renderer turns the family's scope into Envoy's tag label
/// (`envoy_cluster_name`, `envoy_http_conn_manager_prefix`, ...).
public enum StatFamily: String, Sendable, CaseIterable {
    case cluster
    case http
    case listener
    /// `listener.<address>.http.<prefix>.*`: one connection manager's requests on one listener
    /// (the scope is `<address>.http.<prefix>`).
    case listenerHTTP = "listener_http"
    /// `listener.<address>.worker_<n>.*`: one listener's connections on one worker (the scope is
    /// `<address>.worker_<n>`).
    case listenerWorker = "listener_worker"
    case tcp
    case server
    /// Control-plane families: filled by the ADS client, not by workers.
    case controlPlane = "control_plane"
    case clusterManager = "cluster_manager"
    /// `thread_local_cluster_manager.<thread>.*`: each thread's copy of the clusters.
    case threadLocalClusterManager = "thread_local_cluster_manager"
    case listenerManager = "listener_manager"
    /// `<stat_prefix>.http_local_rate_limit.*` (the prefix comes first in Envoy's names).
    case localRateLimit = "http_local_rate_limit"
    /// `<stat_prefix>.rbac.*` (the network RBAC filter; the prefix comes first).
    case networkRBAC = "rbac"
    /// `filesystem.*`: the access log writers (filled by the server, not by workers).
    case filesystem
    /// `tracing.<tracer>.*`: the span exporters (filled by the server).
    case tracing
    /// Istio's standard metrics (`istio_requests_total`, ...): labelled series of their own.
    case istio

    /// The Prometheus label Envoy's default tag extractors give this family's scope.
    public var scopeLabel: String? {
        switch self {
        case .cluster: return "envoy_cluster_name"
        case .http: return "envoy_http_conn_manager_prefix"
        case .listener: return "envoy_listener_address"
        case .tcp: return "envoy_tcp_prefix"
        case .localRateLimit: return "envoy_local_http_ratelimit_prefix"
        case .networkRBAC: return "envoy_rbac_prefix"
        case .server, .controlPlane, .clusterManager, .threadLocalClusterManager, .listenerManager, .filesystem, .tracing, .istio: return nil
        case .listenerHTTP, .listenerWorker: return nil  // two labels, both from Envoy's tag regexes
        }
    }

    /// The optional group a counter belongs to (`ssl`, `rbac`, `fault`, `outlier_detection`), listed
    /// only where configured.
    static func optionalGroup(_ suffix: String) -> String? {
        if suffix.hasPrefix("ssl.") { return "ssl" }
        if suffix.hasPrefix("rbac.") { return "rbac" }
        if suffix.hasPrefix("fault.") { return "fault" }
        if suffix.hasPrefix("outlier_detection.") { return "outlier_detection" }
        return nil
    }

    /// Histograms Envoy creates on first use rather than with their scope (a cluster's
    /// `upstream_rq_time` appears with its first response): not listed while empty.
    static func isLazyHistogram(_ family: StatFamily, _ suffix: String) -> Bool {
        family == .cluster && suffix == "upstream_rq_time"
    }

    /// The stem of per-status-code counters, if this family counts responses.
    public var responseCodeBase: String? {
        switch self {
        case .cluster: return "upstream_rq"
        case .http, .listenerHTTP: return "downstream_rq"
        default: return nil
        }
    }

    public var counterNames: [String] {
        switch self {
        case .cluster: return ClusterStat.counters
        case .http: return HTTPStat.counters
        case .listener: return ListenerStat.counters
        case .listenerHTTP: return ["downstream_rq_completed"]
        case .listenerWorker: return ["downstream_cx_total"]
        case .tcp: return TCPStat.counters
        case .localRateLimit: return LocalRateLimitStat.counters
        case .networkRBAC: return RBACStat.counters
        case .server, .controlPlane, .clusterManager, .threadLocalClusterManager, .listenerManager, .filesystem, .tracing, .istio: return []
        }
    }

    /// Histograms, in milliseconds as Envoy records them.
    public var histogramNames: [String] {
        switch self {
        case .cluster: return ClusterStat.histograms
        case .http: return HTTPStat.histograms
        case .listener: return ListenerStat.histograms
        default: return []
        }
    }

    public var gaugeNames: [String] {
        switch self {
        case .cluster: return ClusterStat.gauges
        case .http: return HTTPStat.gauges
        case .listener: return ListenerStat.gauges
        case .listenerWorker: return ["downstream_cx_active"]
        case .tcp: return TCPStat.gauges
        case .server, .controlPlane, .clusterManager, .threadLocalClusterManager, .listenerManager, .localRateLimit, .networkRBAC, .filesystem, .tracing, .istio, .listenerHTTP:
            return []
        }
    }
}

/// `listener.<address>.http.<prefix>.*`: Envoy counts a connection manager's responses (all five
/// classes, always listed) and completed requests per listener as well as per prefix.
public enum ListenerHTTPStat {
    public static let rqCompleted = StatCounter(0)
}

/// `listener.<address>.worker_<n>.*`: a listener's connections per worker.
public enum ListenerWorkerStat {
    public static let cxTotal = StatCounter(0)
    public static let cxActive = StatGauge(0)
}

/// `<stat_prefix>.http_local_rate_limit.*`.
public enum LocalRateLimitStat {
    static let counters = ["enabled", "enforced", "rate_limited", "ok"]

    public static let enabled = StatCounter(0)
    public static let enforced = StatCounter(1)
    public static let rateLimited = StatCounter(2)
    public static let ok = StatCounter(3)
}

/// `<stat_prefix>.rbac.*` (network RBAC).
public enum RBACStat {
    static let counters = ["allowed", "denied", "shadow_allowed", "shadow_denied"]

    public static let allowed = StatCounter(0)
    public static let denied = StatCounter(1)
    public static let shadowAllowed = StatCounter(2)
    public static let shadowDenied = StatCounter(3)
}

/// `cluster.<name>.*` (Envoy's cluster manager and router upstream stats).
public enum ClusterStat {
    static let counters = [
        "upstream_cx_total", "upstream_cx_connect_fail", "upstream_cx_connect_timeout",
        "upstream_cx_destroy", "upstream_cx_destroy_local", "upstream_cx_destroy_remote",
        "upstream_cx_max_requests", "upstream_cx_rx_bytes_total", "upstream_cx_tx_bytes_total",
        "upstream_cx_http1_total", "upstream_cx_idle_timeout",
        "upstream_rq_total", "upstream_rq_completed", "upstream_rq_timeout",
        "upstream_rq_rx_reset", "upstream_rq_tx_reset", "upstream_rq_pending_total",
        "upstream_rq_pending_failure_eject", "upstream_cx_none_healthy",
        "upstream_rq_retry", "upstream_rq_retry_success", "upstream_rq_retry_limit_exceeded",
        "upstream_rq_per_try_timeout", "upstream_rq_retry_backoff_exponential", "retry_or_shadow_abandoned",
        "upstream_cx_overflow", "upstream_rq_pending_overflow", "upstream_rq_retry_overflow",
        "outlier_detection.ejections_enforced_total", "outlier_detection.ejections_enforced_consecutive_5xx",
        "outlier_detection.ejections_enforced_consecutive_gateway_failure",
        "outlier_detection.ejections_detected_consecutive_5xx",
        "outlier_detection.ejections_detected_consecutive_gateway_failure", "outlier_detection.ejections_overflow",
        "lb_healthy_panic", "upstream_rq_per_try_idle_timeout",
        "outlier_detection.ejections_enforced_consecutive_local_origin_failure",
        "outlier_detection.ejections_detected_consecutive_local_origin_failure",
        "upstream_cx_http2_total",
    ] + SSLStat.names + [
        // Listed at zero as Envoy lists them, for what Skiff does not have: subset and
        // zone-aware load balancing, HTTP/3 and 0-RTT, internal redirects, runtime maintenance
        // mode, preconnecting, EDS endpoint leases and caching, a cluster's connection and
        // stream duration limits, rate-limited retry back-off. Each is a configuration error in
        // Skiff (or has no configuration), so zero is the true value.
        "lb_subsets_created", "lb_subsets_fallback", "lb_subsets_fallback_panic", "lb_subsets_removed",
        "lb_subsets_selected", "lb_zone_cluster_too_small", "lb_zone_no_capacity_left", "lb_zone_routing_all_directly",
        "lb_zone_routing_cross_zone", "lb_zone_routing_sampled", "lb_local_cluster_not_ok", "lb_recalculate_zone_structures",
        "upstream_cx_connect_with_0_rtt", "upstream_rq_0rtt", "upstream_cx_http3_total", "upstream_http3_broken",
        "upstream_internal_redirect_failed_total", "upstream_internal_redirect_succeeded_total",
        "upstream_rq_maintenance_mode", "upstream_cx_preconnect_skipped", "assignment_stale",
        "assignment_timeout_received", "assignment_use_cached", "upstream_cx_max_duration_reached",
        "upstream_rq_max_duration_reached", "upstream_rq_retry_backoff_ratelimited",
    ]
    static let gauges = [
        "upstream_cx_active", "upstream_rq_active", "upstream_rq_pending_active",
        // At zero, as above: no subset load balancing; every request is routed at DEFAULT
        // priority, so HIGH breakers never open; no `max_connection_pools`.
        "lb_subsets_active", "circuit_breakers.high.cx_open", "circuit_breakers.high.cx_pool_open",
        "circuit_breakers.high.rq_open", "circuit_breakers.high.rq_pending_open", "circuit_breakers.high.rq_retry_open",
        "circuit_breakers.default.cx_pool_open",
    ]
    static let histograms = ["upstream_cx_connect_ms", "upstream_cx_length_ms", "upstream_rq_time"]

    /// Time to establish a connection (TCP, and TLS when the cluster originates it).
    public static let cxConnectTime = StatHistogram(0)
    /// Lifetime of an upstream connection.
    public static let cxLength = StatHistogram(1)
    /// From the first request byte sent upstream to the last response byte received, per attempt.
    public static let rqTime = StatHistogram(2)

    public static let cxTotal = StatCounter(0)
    public static let cxConnectFail = StatCounter(1)
    public static let cxConnectTimeout = StatCounter(2)
    public static let cxDestroy = StatCounter(3)
    public static let cxDestroyLocal = StatCounter(4)
    public static let cxDestroyRemote = StatCounter(5)
    public static let cxMaxRequests = StatCounter(6)
    public static let cxRxBytes = StatCounter(7)
    public static let cxTxBytes = StatCounter(8)
    public static let cxHTTP1Total = StatCounter(9)
    public static let cxIdleTimeout = StatCounter(10)
    public static let rqTotal = StatCounter(11)
    public static let rqCompleted = StatCounter(12)
    public static let rqTimeout = StatCounter(13)
    public static let rqRxReset = StatCounter(14)
    public static let rqTxReset = StatCounter(15)
    public static let rqPendingTotal = StatCounter(16)
    public static let rqPendingFailureEject = StatCounter(17)
    public static let cxNoneHealthy = StatCounter(18)
    public static let rqRetry = StatCounter(19)
    public static let rqRetrySuccess = StatCounter(20)
    public static let rqRetryLimitExceeded = StatCounter(21)
    public static let rqPerTryTimeout = StatCounter(22)
    public static let rqRetryBackoffExponential = StatCounter(23)
    public static let retryOrShadowAbandoned = StatCounter(24)
    public static let cxOverflow = StatCounter(25)
    public static let rqPendingOverflow = StatCounter(26)
    public static let rqRetryOverflow = StatCounter(27)
    public static let odEnforcedTotal = StatCounter(28)
    public static let odEnforced5xx = StatCounter(29)
    public static let odEnforcedGateway = StatCounter(30)
    public static let odDetected5xx = StatCounter(31)
    public static let odDetectedGateway = StatCounter(32)
    public static let odOverflow = StatCounter(33)
    public static let lbHealthyPanic = StatCounter(34)
    public static let rqPerTryIdleTimeout = StatCounter(35)
    public static let odEnforcedLocalOrigin = StatCounter(36)
    public static let odDetectedLocalOrigin = StatCounter(37)
    public static let cxHTTP2Total = StatCounter(38)
    public static let ssl = SSLStat(base: 39)

    public static let cxActive = StatGauge(0)
    public static let rqActive = StatGauge(1)
    public static let rqPendingActive = StatGauge(2)
}

/// `http.<stat_prefix>.*` (HttpConnectionManager and router downstream stats).
public enum HTTPStat {
    static let counters = [
        "downstream_cx_total", "downstream_cx_http1_total", "downstream_cx_destroy",
        "downstream_cx_protocol_error", "downstream_cx_idle_timeout", "downstream_cx_rx_bytes_total",
        "downstream_cx_tx_bytes_total", "downstream_rq_total", "downstream_rq_http1_total",
        "downstream_rq_completed", "downstream_rq_timeout", "downstream_rq_rx_reset",
        "downstream_rq_too_large", "downstream_rq_header_timeout", "no_route", "no_cluster",
        "rq_total", "rq_direct_response", "downstream_cx_max_requests_reached", "downstream_rq_idle_timeout",
        "fault.delays_injected", "fault.aborts_injected", "fault.faults_overflow", "downstream_rq_max_duration_reached",
        "rbac.allowed", "rbac.denied", "rbac.shadow_allowed", "rbac.shadow_denied",
        "downstream_cx_http2_total", "downstream_rq_http2_total", "downstream_cx_drain_close", "downstream_rq_ws_on_non_ws_route",
        "downstream_cx_upgrades_total",
        "tracing.random_sampling", "tracing.service_forced", "tracing.client_enabled", "tracing.not_traceable", "tracing.health_check",
        "tracing.tail_kept",
        "downstream_cx_ssl_total",
        "downstream_cx_destroy_local", "downstream_cx_destroy_remote", "downstream_cx_destroy_active_rq",
        "downstream_cx_destroy_local_active_rq", "downstream_cx_destroy_remote_active_rq",
        // Listed at zero as Envoy lists them, for what Skiff does not have (yet): HTTP/3, an
        // overload manager, path normalisation, internal and route redirects, IP detection
        // extensions, connection duration limits, response buffering, HTTP/2 premature-reset
        // protection. Each is a configuration error in Skiff, so zero is the true value.
        "downstream_cx_http3_total", "downstream_rq_http3_total", "downstream_cx_overload_disable_keepalive",
        "downstream_rq_overload_close", "rq_overload_local_reply", "downstream_rq_failed_path_normalization",
        "downstream_rq_redirected_with_normalized_path", "passthrough_internal_redirect_bad_location",
        "passthrough_internal_redirect_no_route", "passthrough_internal_redirect_predicate",
        "passthrough_internal_redirect_too_many_redirects", "passthrough_internal_redirect_unsafe_scheme", "rq_redirect",
        "downstream_rq_rejected_via_ip_detection", "downstream_cx_max_duration_reached", "downstream_cx_http1_soft_drain",
        "rs_too_large", "downstream_rq_too_many_premature_resets",
    ]
    static let gauges = [
        "downstream_cx_active", "downstream_rq_active", "downstream_cx_http1_active", "fault.active_faults",
        "downstream_cx_http2_active", "downstream_cx_upgrades_active", "downstream_cx_ssl_active", "downstream_cx_http3_active",
    ]
    static let histograms = ["downstream_cx_length_ms", "downstream_rq_time"]

    public static let cxLength = StatHistogram(0)
    /// From the request's first byte to the response's last, as the client sees it.
    public static let rqTime = StatHistogram(1)

    public static let cxTotal = StatCounter(0)
    public static let cxHTTP1Total = StatCounter(1)
    public static let cxDestroy = StatCounter(2)
    public static let cxProtocolError = StatCounter(3)
    public static let cxIdleTimeout = StatCounter(4)
    public static let cxRxBytes = StatCounter(5)
    public static let cxTxBytes = StatCounter(6)
    public static let rqTotal = StatCounter(7)
    public static let rqHTTP1Total = StatCounter(8)
    public static let rqCompleted = StatCounter(9)
    public static let rqTimeout = StatCounter(10)
    public static let rqRxReset = StatCounter(11)
    public static let rqTooLarge = StatCounter(12)
    public static let rqHeaderTimeout = StatCounter(13)
    public static let noRoute = StatCounter(14)
    public static let noCluster = StatCounter(15)
    public static let routerRqTotal = StatCounter(16)
    public static let rqDirectResponse = StatCounter(17)
    public static let cxMaxRequestsReached = StatCounter(18)
    public static let rqIdleTimeout = StatCounter(19)
    public static let faultDelaysInjected = StatCounter(20)
    public static let faultAbortsInjected = StatCounter(21)
    public static let faultsOverflow = StatCounter(22)
    public static let rqMaxDurationReached = StatCounter(23)
    public static let rbacAllowed = StatCounter(24)
    public static let rbacDenied = StatCounter(25)
    public static let rbacShadowAllowed = StatCounter(26)
    public static let rbacShadowDenied = StatCounter(27)
    public static let cxHTTP2Total = StatCounter(28)
    public static let rqHTTP2Total = StatCounter(29)
    public static let cxDrainClose = StatCounter(30)
    public static let rqWsOnNonWsRoute = StatCounter(31)
    public static let cxUpgradesTotal = StatCounter(32)
    /// The tracing decision per request (Envoy's `http.<prefix>.tracing.*`).
    public static let tracingRandomSampling = StatCounter(33)
    public static let tracingServiceForced = StatCounter(34)
    public static let tracingClientEnabled = StatCounter(35)
    public static let tracingNotTraceable = StatCounter(36)
    /// Skiff's tail decision kept a span head sampling had dropped.
    public static let tracingTailKept = StatCounter(38)
    /// Connections over TLS (HTTP/1.1 or HTTP/2).
    public static let cxSSLTotal = StatCounter(39)
    public static let cxDestroyLocal = StatCounter(40)
    public static let cxDestroyRemote = StatCounter(41)
    public static let cxDestroyActiveRq = StatCounter(42)
    public static let cxDestroyLocalActiveRq = StatCounter(43)
    public static let cxDestroyRemoteActiveRq = StatCounter(44)

    /// A connection ended: by Skiff (`local`) or the client, with or without a request in flight.
    public static func countDestroy(in stats: StatsScope, local: Bool, activeRequest: Bool) {
        stats.increment(local ? cxDestroyLocal : cxDestroyRemote)
        if activeRequest {
            stats.increment(cxDestroyActiveRq)
            stats.increment(local ? cxDestroyLocalActiveRq : cxDestroyRemoteActiveRq)
        }
    }

    public static let cxActive = StatGauge(0)
    public static let rqActive = StatGauge(1)
    public static let cxHTTP1Active = StatGauge(2)
    public static let faultActive = StatGauge(3)
    public static let cxHTTP2Active = StatGauge(4)
    public static let cxUpgradesActive = StatGauge(5)
    public static let cxSSLActive = StatGauge(6)
}

/// `listener.<address>.*`.
public enum ListenerStat {
    static let counters = ["downstream_cx_total", "downstream_cx_destroy", "no_filter_chain_match", "downstream_pre_cx_timeout"] + SSLStat.names
        + [
            "downstream_listener_filter_remote_close",
            // Listed at zero as Envoy lists them: Skiff has no listener connection limit, overload
            // manager, transport-socket connect timeout, ECDS or failing listener filter yet.
            "downstream_cx_overflow", "downstream_cx_overload_reject", "downstream_cx_transport_socket_connect_timeout",
            "downstream_global_cx_overflow", "downstream_listener_filter_error", "extension_config_missing",
            "network_extension_config_missing",
        ]
    static let gauges = ["downstream_cx_active", "downstream_pre_cx_active"]
    static let histograms = ["downstream_cx_length_ms"]
    public static let cxLength = StatHistogram(0)

    public static let cxTotal = StatCounter(0)
    public static let cxDestroy = StatCounter(1)
    public static let noFilterChainMatch = StatCounter(2)
    /// Listener filters (TLS / HTTP inspection) timed out waiting for the client's first bytes.
    public static let preConnectionTimeout = StatCounter(3)
    public static let ssl = SSLStat(base: 4)
    /// The client closed while listener filters waited for its first bytes.
    public static let listenerFilterRemoteClose = StatCounter(4 + SSLStat.names.count)
    public static let cxActive = StatGauge(0)
    /// Connections still in listener filters (TLS / HTTP inspection).
    public static let preConnectionActive = StatGauge(1)
}

/// Envoy's `ssl.*` counters, under a listener (`listener.<addr>.ssl.*`) or a cluster
/// (`cluster.<name>.ssl.*`).
public struct SSLStat: Sendable {
    static let names = [
        "ssl.handshake", "ssl.connection_error", "ssl.fail_verify_no_cert", "ssl.fail_verify_san", "ssl.fail_verify_error",
        "ssl.no_certificate", "ssl.session_reused", "ssl.fail_verify_cert_hash",
    ]
    public let handshake: StatCounter
    public let connectionError: StatCounter
    public let failVerifyNoCert: StatCounter
    public let failVerifySAN: StatCounter
    public let failVerifyError: StatCounter
    /// A handshake without a peer certificate (allowed where none is required).
    public let noCertificate: StatCounter

    init(base: Int) {
        handshake = StatCounter(base)
        connectionError = StatCounter(base + 1)
        failVerifyNoCert = StatCounter(base + 2)
        failVerifySAN = StatCounter(base + 3)
        failVerifyError = StatCounter(base + 4)
        noCertificate = StatCounter(base + 5)
    }
}

/// `tcp.<stat_prefix>.*` (TcpProxy).
public enum TCPStat {
    static let counters = [
        "downstream_cx_total", "downstream_cx_rx_bytes_total", "downstream_cx_tx_bytes_total",
        "downstream_cx_no_route", "idle_timeout", "upstream_flush_total",
    ]
    static let gauges = ["downstream_cx_rx_bytes_buffered", "downstream_cx_tx_bytes_buffered", "upstream_flush_active"]

    public static let cxTotal = StatCounter(0)
    public static let rxBytes = StatCounter(1)
    public static let txBytes = StatCounter(2)
    public static let noRoute = StatCounter(3)
    public static let idleTimeout = StatCounter(4)
}

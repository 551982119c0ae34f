import NIOCore

/// One listener (`envoy.config.listener.v3.Listener`) after translation.
public struct ListenerConfig: Sendable {
    public var name: String
    public var address: SocketAddressConfig
    public var filterChains: [FilterChainConfig]
    /// `per_connection_buffer_limit_bytes` (Envoy default 1 MiB): the most a connection buffers
    /// before it stops reading.
    public var bufferLimitBytes: Int
    /// `stat_prefix`, or the address in Envoy's stat form.
    public var statPrefix: String
    /// `listener_filters` has `envoy.filters.listener.tls_inspector`: a connection's first bytes
    /// are read (not consumed) for a ClientHello before its filter chain is chosen.
    public var tlsInspector = false
    /// `listener_filters_timeout` (default 15 s): how long the inspector waits for those bytes;
    /// with `continue_on_listener_filters_timeout` the connection then goes on as plaintext.
    public var listenerFiltersTimeout: TimeAmount? = .seconds(15)
    public var continueOnListenerFiltersTimeout = false
    /// `listener_filters` has `envoy.filters.listener.http_inspector`: a plaintext connection's
    /// first bytes are sniffed for HTTP/1.x or the HTTP/2 preface, and the chain is matched on
    /// `application_protocols` `http/1.1`, `http/1.0` or `h2c` (nothing for anything else).
    public var httpInspector = false
    /// `listener_filters` has `envoy.filters.listener.original_dst`: a redirected connection's
    /// local address becomes its original destination (`SO_ORIGINAL_DST`) before the chain is
    /// matched, and `ORIGINAL_DST` clusters connect there.
    public var originalDst = false
    /// `use_original_dst`: a redirected connection is handed to the listener bound (or not bound,
    /// `bind_to_port: false`) at its original destination, exact address first, then the
    /// wildcard address on that port; with none it stays on this listener.
    public var useOriginalDst = false
    /// `bind_to_port` (default true): false for listeners that only take hand-offs.
    public var bindToPort = true
    /// `traffic_direction`: `POST /drain_listeners?inboundonly` drains the INBOUND ones only.
    public var trafficDirection: TrafficDirection = .unspecified

    public init(
        name: String, address: SocketAddressConfig, filterChains: [FilterChainConfig],
        bufferLimitBytes: Int, statPrefix: String
    ) {
        self.name = name
        self.address = address
        self.filterChains = filterChains
        self.bufferLimitBytes = bufferLimitBytes
        self.statPrefix = statPrefix
    }
}

/// `envoy.config.core.v3.TrafficDirection`.
public enum TrafficDirection: String, Sendable {
    case unspecified = "UNSPECIFIED", inbound = "INBOUND", outbound = "OUTBOUND"
}

/// One filter chain: its (optional) match and the terminal network filter it runs.
public struct FilterChainConfig: Sendable {
    public var name: String
    /// `filter_chain_match.destination_port`, when set.
    public var destinationPort: Int?
    /// `filter_chain_match.server_names` (exact or `*.suffix`), `transport_protocol` (`tls`,
    /// `raw_buffer`) and `application_protocols` (ALPN offered by the client).
    public var serverNames: [String] = []
    public var transportProtocol: String?
    public var applicationProtocols: [String] = []
    /// `filter_chain_match.prefix_ranges` (the connection's destination IP, after
    /// `original_dst`), `source_prefix_ranges`, `source_type` and `source_ports`.
    public var prefixRanges: [CIDRRange] = []
    public var sourcePrefixRanges: [CIDRRange] = []
    public var sourceType: SourceType = .any
    public var sourcePorts: [Int] = []
    /// `transport_socket` `envoy.transport_sockets.tls`: TLS is terminated on this chain.
    public var tls: DownstreamTLSConfig?
    /// `envoy.filters.network.rbac` ahead of the terminal filter.
    public var networkRBAC: RBACFilterConfig?
    /// The listener's `default_filter_chain`: used only when no other chain matches.
    public var isDefault = false
    public var filter: NetworkFilterConfig
    /// A hash of the chain's configuration as received: a listener update drains only the
    /// connections of chains whose fingerprint changed.
    public var fingerprint: UInt64

    public init(name: String, destinationPort: Int?, filter: NetworkFilterConfig, fingerprint: UInt64 = 0) {
        self.name = name
        self.destinationPort = destinationPort
        self.filter = filter
        self.fingerprint = fingerprint
    }
}

/// `FilterChainMatch.ConnectionSourceType`: LOCAL is a connection whose source address is one of
/// the machine's own (loopback, or equal to its destination).
public enum SourceType: Sendable {
    case any, local, external
}

/// The terminal network filters Skiff implements.
public enum NetworkFilterConfig: Sendable {
    case httpConnectionManager(HTTPConnectionManagerConfig)
    case tcpProxy(TCPProxyConfig)
}

/// `envoy.filters.network.http_connection_manager` after translation.
public struct HTTPConnectionManagerConfig: Sendable {
    public var statPrefix: String
    /// `<listener stat prefix>.http.<stat_prefix>`: the scope of the per-listener copies of the
    /// response counters (`listener.<address>.http.<prefix>.downstream_rq_2xx`); set by the
    /// listener that holds this connection manager.
    public var listenerStatScope: String?
    public var routeTable: RouteTable
    /// `rds.route_config_name`: when set, routes come from the control plane and `routeTable` is
    /// only the empty placeholder; every request reads the worker's current table of that name.
    public var rdsName: String?
    /// `envoy.filters.http.fault` in `http_filters` (before the router), with its config.
    public var fault: FaultConfig?
    /// `envoy.filters.http.local_ratelimit` in `http_filters`, with its config.
    public var localRateLimit: LocalRateLimitConfig?
    /// `envoy.filters.http.rbac` in `http_filters` (run first, before the others).
    public var rbac: RBACFilterConfig?
    /// `forward_client_cert_details` (default SANITIZE) and `set_current_client_cert_details`:
    /// the `x-forwarded-client-cert` header that tells the app who called over mTLS.
    public var forwardClientCert: ForwardClientCert = .sanitize
    public var clientCertFields = ClientCertFields()
    /// `max_request_headers_kb` in bytes (Envoy default 60 KiB); larger heads get 431.
    public var maxRequestHeadersBytes: Int
    /// `common_http_protocol_options.idle_timeout` (default 1 h; nil disables).
    public var idleTimeout: TimeAmount?
    /// `request_headers_timeout` (default disabled): from a request's first byte to its complete
    /// head; 408 and close on expiry.
    public var requestHeadersTimeout: TimeAmount?
    /// `request_timeout` (default disabled): time allowed to receive the whole request.
    public var requestTimeout: TimeAmount?
    /// `stream_idle_timeout` (default 5 min; nil disables).
    public var streamIdleTimeout: TimeAmount?
    /// `common_http_protocol_options.max_stream_duration` (default none): a stream's whole life.
    public var maxStreamDuration: TimeAmount?
    /// `server_name` (Envoy default "envoy"), written as the `server` response header.
    public var serverName: String
    /// `use_remote_address`: whether to append the peer address to `x-forwarded-for`.
    public var useRemoteAddress: Bool
    /// `skip_xff_append`.
    public var skipXFFAppend: Bool
    /// `generate_request_id` (default true).
    public var generateRequestID: Bool
    /// `common_http_protocol_options.max_requests_per_connection` (downstream), nil for no limit.
    public var maxRequestsPerConnection: Int?
    /// `codec_type` (default AUTO) and `http2_protocol_options`.
    public var codecType: HTTPCodecType = .auto
    /// `tracing`, when the connection manager traces requests.
    public var tracing: TracingConfig?
    /// The `istio.stats` filter: Istio's standard metrics, reported as this direction.
    public var istioStats: IstioReporter?
    public var http2 = HTTP2Options()
    /// `upgrade_configs` `upgrade_type`s that are enabled (e.g. `websocket`), lowercased.
    public var upgradeTypes: Set<String> = []
    /// `access_log`: a line per finished request to each.
    public var accessLogs: [AccessLogConfig] = []

    public init(statPrefix: String, routeTable: RouteTable) {
        self.statPrefix = statPrefix
        self.routeTable = routeTable
        self.rdsName = nil
        self.fault = nil
        self.localRateLimit = nil
        self.rbac = nil
        self.maxRequestHeadersBytes = 60 * 1024
        self.idleTimeout = .hours(1)
        self.requestHeadersTimeout = nil
        self.requestTimeout = nil
        self.streamIdleTimeout = .minutes(5)
        self.maxStreamDuration = nil
        self.serverName = "envoy"
        self.useRemoteAddress = false
        self.skipXFFAppend = false
        self.generateRequestID = true
        self.maxRequestsPerConnection = nil
    }
}

/// `envoy.filters.network.tcp_proxy` after translation.
public struct TCPProxyConfig: Sendable {
    public var statPrefix: String
    public var target: ClusterTarget
    /// `idle_timeout` (Envoy default 1 h; nil disables).
    public var idleTimeout: TimeAmount?
    /// `max_connect_attempts` (default 1).
    public var maxConnectAttempts: Int
    /// `access_log`: a line per connection when it closes.
    public var accessLogs: [AccessLogConfig] = []
    /// The `istio.stats` network filter ahead of the proxy.
    public var istioStats: IstioReporter?

    public init(statPrefix: String, target: ClusterTarget, idleTimeout: TimeAmount?, maxConnectAttempts: Int) {
        self.statPrefix = statPrefix
        self.target = target
        self.idleTimeout = idleTimeout
        self.maxConnectAttempts = maxConnectAttempts
    }
}

/// `HttpConnectionManager.ForwardClientCertDetails`.
public enum ForwardClientCert: Sendable {
    case sanitize, forwardOnly, appendForward, sanitizeSet, alwaysForwardOnly
}

/// `SetCurrentClientCertDetails`: which facts about the peer certificate go into the header
/// (`By` and `Hash` always do).
public struct ClientCertFields: Sendable, Equatable {
    public var subject = false
    public var cert = false
    public var chain = false
    public var dns = false
    public var uri = false

    public init() {}
}

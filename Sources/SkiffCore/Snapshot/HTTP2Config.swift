/// `envoy.config.core.v3.Http2ProtocolOptions` after translation (the HTTP connection manager's
/// `http2_protocol_options` downstream, a cluster's upstream), with Envoy's defaults.
public struct HTTP2Options: Sendable, Hashable {
    /// `max_concurrent_streams` (default 1024): streams a peer may open at once on a connection
    /// Skiff accepts; upstream, the most Skiff opens per connection (and never more than the
    /// upstream's own SETTINGS allow).
    public var maxConcurrentStreams = 1024
    /// `initial_stream_window_size` (default 16 MiB): how much a peer may send on one stream
    /// before Skiff has passed it on: the bound on what one stream buffers.
    public var initialStreamWindowSize = 16 * 1024 * 1024
    /// `initial_connection_window_size` (default 24 MiB).
    public var initialConnectionWindowSize = 24 * 1024 * 1024
    /// `allow_connect`: extended CONNECT (RFC 8441).
    public var allowConnect = false

    public init() {}
}

/// `codec_type` of the HTTP connection manager.
public enum HTTPCodecType: Sendable, Hashable {
    /// HTTP/2 when the connection starts with the HTTP/2 preface (prior knowledge, or ALPN `h2`
    /// over TLS), HTTP/1.1 otherwise.
    case auto
    case http1
    case http2
}

/// Which HTTP a cluster speaks to its hosts (`typed_extension_protocol_options`
/// `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`, or the deprecated cluster-level
/// `http2_protocol_options`).
public enum UpstreamHTTPProtocol: Sendable, Hashable {
    /// `explicit_http_config.http_protocol_options` (the default).
    case http1
    /// `explicit_http_config.http2_protocol_options`: prior-knowledge h2c in plaintext, `h2`
    /// offered in ALPN over TLS.
    case http2
    /// `use_downstream_protocol_config`: the protocol the downstream request arrived on.
    case downstream
    /// `auto_config`: `h2` if the host's TLS handshake selects it by ALPN, else HTTP/1.1
    /// (HTTP/1.1 in plaintext).
    case alpn
}

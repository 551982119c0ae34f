/// The one error type of the proxy path.
///
/// Every failure on the data path becomes a `ProxyError` that records who is at fault and whether a
/// retry may help, so that mapping an error to a status code, a response flag, a stat and a log
/// line happens in one place (`localReply`), never scattered through handlers.
public struct ProxyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Who caused the failure.
    public enum Source: String, Sendable {
        case downstream, upstream, config, proxy
    }

    /// What went wrong, at the granularity a local reply needs.
    public enum Kind: Sendable, Equatable {
        case noRoute
        case clusterNotFound(String)
        case noHealthyUpstream
        case connectFailure(String)
        case connectTimeout
        case upstreamReset(beforeHeaders: Bool)
        case upstreamTimeout
        case upstreamProtocolError
        case downstreamProtocolError(status: Int, detail: String)
        case downstreamReset
        case overflow
        /// `stream_idle_timeout` expired.
        case streamIdleTimeout
    }

    public var kind: Kind
    public var source: Source
    /// Whether repeating the request could succeed (used by the retry policy).
    public var retryable: Bool

    public init(_ kind: Kind) {
        self.kind = kind
        switch kind {
        case .noRoute, .clusterNotFound:
            self.source = .config
            self.retryable = false
        case .noHealthyUpstream, .overflow, .streamIdleTimeout:
            self.source = .upstream
            self.retryable = false
        case .connectFailure, .connectTimeout, .upstreamReset, .upstreamTimeout, .upstreamProtocolError:
            self.source = .upstream
            self.retryable = true
        case .downstreamProtocolError, .downstreamReset:
            self.source = .downstream
            self.retryable = false
        }
    }

    /// The local reply Envoy sends for this error: status, response flag and body text.
    public var localReply: LocalReply {
        switch kind {
        case .noRoute:
            return LocalReply(status: 404, flag: .noRouteFound, body: "")
        case .clusterNotFound:
            return LocalReply(status: 503, flag: .noClusterFound, body: "")
        case .noHealthyUpstream:
            return LocalReply(status: 503, flag: .noHealthyUpstream, body: "no healthy upstream")
        case .connectFailure(let reason):
            return LocalReply(
                status: 503, flag: .upstreamConnectionFailure,
                body: "upstream connect error or disconnect/reset before headers. reset reason: "
                    + "remote connection failure, transport failure reason: \(reason)"
            )
        case .connectTimeout:
            return LocalReply(
                status: 503, flag: .upstreamConnectionFailure,
                body: "upstream connect error or disconnect/reset before headers. reset reason: connection timeout"
            )
        case .upstreamReset:
            return LocalReply(
                status: 503, flag: .upstreamConnectionTermination,
                body: "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
            )
        case .upstreamTimeout:
            return LocalReply(status: 504, flag: .upstreamRequestTimeout, body: "upstream request timeout")
        case .upstreamProtocolError:
            return LocalReply(status: 502, flag: .upstreamProtocolError, body: "upstream protocol error")
        case .downstreamProtocolError(let status, let detail):
            return LocalReply(status: status, flag: .downstreamProtocolError, body: detail)
        case .downstreamReset:
            return LocalReply(status: 499, flag: .downstreamConnectionTermination, body: "")
        case .streamIdleTimeout:
            return LocalReply(status: 408, flag: .streamIdleTimeout, body: "stream timeout")
        case .overflow:
            return LocalReply(status: 503, flag: .upstreamOverflow, body: "upstream connect error or disconnect/reset before headers. reset reason: overflow")
        }
    }

    public var description: String {
        let reply = localReply
        return "\(source) error \(reply.flag.rawValue) (\(reply.status))\(reply.body.isEmpty ? "" : ": \(reply.body)")"
    }
}

/// A response the proxy generates itself instead of forwarding one from upstream.
public struct LocalReply: Sendable, Equatable {
    public var status: Int
    public var flag: ResponseFlag
    public var body: String

    public init(status: Int, flag: ResponseFlag, body: String) {
        self.status = status
        self.flag = flag
        self.body = body
    }
}

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
        /// An HTTP/2 upstream refused the stream (REFUSED_STREAM, or above a GOAWAY's last
        /// stream): it did not process the request, so sending it again is safe.
        case refusedStream
        case upstreamTimeout
        case upstreamProtocolError
        case downstreamProtocolError(status: Int, detail: String)
        case downstreamReset
        case overflow
        /// `stream_idle_timeout` (or the route's `idle_timeout`) expired.
        case streamIdleTimeout(requestComplete: Bool)
        /// `max_stream_duration` (or the request's `grpc-timeout` under `grpc_timeout_header_max`)
        /// expired.
        case durationTimeout(requestComplete: Bool)
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
        case .noHealthyUpstream, .overflow, .streamIdleTimeout, .durationTimeout:
            self.source = .upstream
            self.retryable = false
        case .connectFailure, .connectTimeout, .upstreamReset, .upstreamTimeout, .upstreamProtocolError, .refusedStream:
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
        case .connectFailure:
            // Envoy 1.40's words, the transport's reason left out (it goes to the access log's
            // `%UPSTREAM_TRANSPORT_FAILURE_REASON%`).
            return LocalReply(
                status: 503, flag: .upstreamConnectionFailure,
                body: "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"
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
        case .refusedStream:
            return LocalReply(
                status: 503, flag: .upstreamConnectionTermination,
                body: "upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset"
            )
        case .upstreamTimeout:
            return LocalReply(status: 504, flag: .upstreamRequestTimeout, body: "upstream request timeout")
        case .upstreamProtocolError:
            return LocalReply(status: 502, flag: .upstreamProtocolError, body: "upstream protocol error")
        case .downstreamProtocolError(let status, let detail):
            return LocalReply(status: status, flag: .downstreamProtocolError, body: detail)
        case .downstreamReset:
            return LocalReply(status: 499, flag: .downstreamConnectionTermination, body: "")
        case .streamIdleTimeout(let complete):
            // Envoy: 504 once the whole request was received (the wait is the upstream's), else 408.
            return LocalReply(status: complete ? 504 : 408, flag: .streamIdleTimeout, body: "stream timeout")
        case .durationTimeout(let complete):
            return LocalReply(status: complete ? 504 : 408, flag: .durationTimeout, body: "downstream duration timeout", grpcStatus: 4)
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
///
/// To a gRPC request (`content-type: application/grpc*`) it goes out gRPC-shaped, as Envoy does:
/// HTTP 200, `grpc-status` (`grpcStatus`, else mapped from `status`) and `grpc-message` (the body).
public struct LocalReply: Sendable, Equatable {
    public var status: Int
    public var flag: ResponseFlag
    public var body: String
    /// The gRPC status for gRPC requests when it is not the one `status` maps to.
    public var grpcStatus: Int?

    public init(status: Int, flag: ResponseFlag, body: String, grpcStatus: Int? = nil) {
        self.status = status
        self.flag = flag
        self.body = body
        self.grpcStatus = grpcStatus
    }

    /// The gRPC status a gRPC client sees: Envoy's HTTP-to-gRPC mapping unless set explicitly.
    public var effectiveGRPCStatus: Int {
        if let grpcStatus { return grpcStatus }
        switch status {
        case 400: return 13  // INTERNAL
        case 401: return 16  // UNAUTHENTICATED
        case 403: return 7  // PERMISSION_DENIED
        case 404: return 12  // UNIMPLEMENTED
        case 429, 502, 503, 504: return 14  // UNAVAILABLE
        default: return 2  // UNKNOWN
        }
    }
}

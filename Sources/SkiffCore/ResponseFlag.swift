/// Envoy's response flags: the short codes access logs and stats use to say why a request ended
/// the way it did (`%RESPONSE_FLAGS%`). Names and codes follow Envoy's `StreamInfo::ResponseFlag`.
public enum ResponseFlag: String, Sendable, CaseIterable {
    /// No route matched the request (`NR`).
    case noRouteFound = "NR"
    /// No healthy upstream host in the chosen cluster (`UH`).
    case noHealthyUpstream = "UH"
    /// Connecting to the upstream failed (`UF`).
    case upstreamConnectionFailure = "UF"
    /// The upstream connection was reset or closed before a complete response (`UC`).
    case upstreamConnectionTermination = "UC"
    /// The route timeout expired (`UT`).
    case upstreamRequestTimeout = "UT"
    /// The downstream connection was closed mid-request (`DC`).
    case downstreamConnectionTermination = "DC"
    /// The route names a cluster that is not configured (`NC`).
    case noClusterFound = "NC"
    /// A circuit breaker or other resource limit rejected the request (`UO`).
    case upstreamOverflow = "UO"
    /// The downstream sent a malformed request (`DPE`).
    case downstreamProtocolError = "DPE"
    /// The upstream sent a malformed response (`UPE`).
    case upstreamProtocolError = "UPE"
    /// The stream idle timeout expired (`SI`).
    case streamIdleTimeout = "SI"
    /// The stream's `max_stream_duration` expired (`DT`).
    case durationTimeout = "DT"
    /// The fault filter aborted the request (`FI`).
    case faultInjected = "FI"
    /// The fault filter delayed the request (`DI`).
    case delayInjected = "DI"
    /// The local rate limit refused the request (`RL`).
    case rateLimited = "RL"
    /// Retries (or a TCP proxy's `max_connect_attempts`) ran out (`URX`).
    case upstreamRetryLimitExceeded = "URX"
    /// No flag (Envoy prints `-`): e.g. an RBAC denial, which Envoy records only in the
    /// response code details.
    case none = "-"

}

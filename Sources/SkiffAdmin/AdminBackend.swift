import SkiffTelemetry

/// What the admin endpoints read from and act on; implemented by the server.
///
/// Everything here is control plane: gathering stats asks every worker for its values on its own
/// event loop, so the admin port never takes a lock the data path also takes.
public protocol AdminBackend: Sendable {
    /// Merged statistics from every worker.
    func statsSamples() async -> [StatSample]
    /// Tag extraction for `/stats/prometheus` (the bootstrap's `stats_config`).
    var statsTags: TagProducer { get }
    /// Envoy's `/clusters` text.
    func clustersText() async -> String
    /// Envoy's `/config_dump` JSON.
    func configDump() async -> String
    /// Envoy's `/server_info` JSON.
    func serverInfo() async -> String
    /// Envoy's `/certs` JSON: every certificate in use, with its SANs and expiry.
    func certificatesJSON() async -> String
    /// Whether the server is live (`/ready` answers 200 `LIVE`).
    func isLive() -> Bool
    /// Envoy's state name for `/ready` when not live: `DRAINING` or `INITIALIZING`.
    func stateName() -> String
    /// `POST /quitquitquit`: begin shutting down.
    func requestQuit()
    /// `POST /drain_listeners`.
    func drainListenersRequested(graceful: Bool, inboundOnly: Bool, skipExit: Bool)
    /// `POST /healthcheck/fail` (true) and `/healthcheck/ok` (false).
    func setHealthCheckFailed(_ failed: Bool) async
}

/// A response from an admin endpoint.
public struct AdminResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: String

    public init(status: Int, contentType: String = "text/plain; charset=UTF-8", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

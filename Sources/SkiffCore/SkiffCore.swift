/// SkiffCore owns the vocabulary every other target speaks: the immutable configuration snapshot
/// (listeners, routes, clusters, endpoints) that the control plane builds and the data plane
/// reads, the proxy's one error type, response flags, and the clock abstraction. It has no channel
/// code: a snapshot is plain `Sendable` values, precomputed for fast matching, so the hot path
/// never touches protobuf messages.
public enum SkiffCore {
    /// The version string `/server_info` and `skiff --version` report.
    public static let version = "0.1.0"
}

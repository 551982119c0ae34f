/// What Istio's standard metrics say about a workload: from this proxy's `node.metadata`
/// (`NAME`, `NAMESPACE`, `WORKLOAD_NAME`, `CLUSTER_ID`, `LABELS`), or from a peer's, as Istio's
/// metadata exchange sends it in `x-envoy-peer-metadata`. Missing values are Istio's `unknown`.
public struct IstioMetadata: Sendable, Equatable, Hashable {
    public var workload = "unknown"
    public var namespace = "unknown"
    public var cluster = "unknown"
    public var app = "unknown"
    public var version = "unknown"
    public var canonicalService = "unknown"
    public var canonicalRevision = "latest"

    public init() {}

    /// From metadata fields (string values) and the `LABELS` map.
    public init(fields: [String: String], labels: [String: String]) {
        workload = fields["WORKLOAD_NAME"] ?? "unknown"
        namespace = fields["NAMESPACE"] ?? "unknown"
        cluster = fields["CLUSTER_ID"] ?? "unknown"
        app = labels["app"] ?? labels["app.kubernetes.io/name"] ?? "unknown"
        version = labels["version"] ?? labels["app.kubernetes.io/version"] ?? "unknown"
        canonicalService = labels["service.istio.io/canonical-name"] ?? labels["app.kubernetes.io/name"] ?? labels["app"] ?? workload
        canonicalRevision = labels["service.istio.io/canonical-revision"] ?? labels["app.kubernetes.io/version"] ?? labels["version"] ?? "latest"
    }

    /// What a SPIFFE identity alone tells: the namespace (`spiffe://<td>/ns/<ns>/sa/<sa>`).
    public static func fromPrincipal(_ principal: String?) -> IstioMetadata {
        var out = IstioMetadata()
        guard let principal else { return out }
        let parts = principal.split(separator: "/")
        if let index = parts.firstIndex(of: "ns"), index + 1 < parts.count {
            out.namespace = String(parts[index + 1])
        }
        return out
    }
}

/// Istio's `reporter` label: `destination` for an inbound listener, `source` for an outbound one.
public enum IstioReporter: String, Sendable, Hashable {
    case source
    case destination
}

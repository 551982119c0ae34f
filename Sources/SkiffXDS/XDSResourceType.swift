/// The resource types Skiff subscribes to over ADS, in Envoy's warming order: clusters, their
/// endpoints, listeners, their routes, then secrets.
public enum XDSResourceType: Int, CaseIterable, Sendable, Comparable {
    case cluster
    case endpoint
    case listener
    case route
    case secret

    public var typeURL: String {
        switch self {
        case .cluster: return "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        case .endpoint: return "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
        case .listener: return "type.googleapis.com/envoy.config.listener.v3.Listener"
        case .route: return "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
        case .secret: return "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
        }
    }

    /// `cds`, `eds`, ... as in Envoy's stat names and Skiff's config dump.
    public var shortName: String {
        switch self {
        case .cluster: return "cds"
        case .endpoint: return "eds"
        case .listener: return "lds"
        case .route: return "rds"
        case .secret: return "sds"
        }
    }

    /// LDS and CDS subscribe to everything (wildcard) and their SotW responses are complete sets;
    /// the others subscribe by name.
    public var isWildcard: Bool { self == .cluster || self == .listener }

    /// The word used in error details: `cluster "payments": ...`.
    var resourceWord: String {
        switch self {
        case .cluster: return "cluster"
        case .endpoint: return "cluster_load_assignment"
        case .listener: return "listener"
        case .route: return "route_configuration"
        case .secret: return "secret"
        }
    }

    public init?(typeURL: String) {
        guard let match = Self.allCases.first(where: { $0.typeURL == typeURL }) else { return nil }
        self = match
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

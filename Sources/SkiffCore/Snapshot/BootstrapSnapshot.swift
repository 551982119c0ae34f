import NIOCore

/// Everything Skiff serves, as one immutable value.
///
/// The control plane (bootstrap loader today, xDS later) builds a new snapshot and publishes it;
/// each worker picks it up for new connections and requests, while in-flight requests finish on
/// the snapshot they started with.
public struct BootstrapSnapshot: Sendable {
    public var node: NodeInfo
    public var admin: SocketAddressConfig?
    public var listeners: [ListenerConfig]
    public var clusters: [ClusterConfig]
    /// Wall-clock seconds when this snapshot was built (for `/config_dump`).
    public var loadedAt: Double
    /// The bootstrap as Envoy-shaped JSON, for `/config_dump`.
    public var sourceJSON: String
    /// `dynamic_resources`, when the bootstrap names a control plane.
    public var dynamic: DynamicResourcesConfig?
    /// The bootstrap's `node` message as protobuf bytes, sent to the control plane as is.
    public var nodeBytes: [UInt8] = []
    /// `stats_config`: tag extraction and histogram buckets.
    public var stats = StatsConfig()

    public init(
        node: NodeInfo,
        admin: SocketAddressConfig?,
        listeners: [ListenerConfig],
        clusters: [ClusterConfig],
        loadedAt: Double,
        sourceJSON: String
    ) {
        self.node = node
        self.admin = admin
        self.listeners = listeners
        self.clusters = clusters
        self.loadedAt = loadedAt
        self.sourceJSON = sourceJSON
        self.dynamic = nil
    }

    public func cluster(named name: String) -> ClusterConfig? {
        clusters.first { $0.name == name }
    }
}

/// The `node` block of the bootstrap: how this proxy identifies itself.
public struct NodeInfo: Sendable, Equatable {
    public var id: String
    public var cluster: String
    /// Istio's workload metadata from `node.metadata` (for the `istio.stats` filter's labels).
    public var istio = IstioMetadata()

    public init(id: String, cluster: String) {
        self.id = id
        self.cluster = cluster
    }
}

/// A socket address from config (`envoy.config.core.v3.SocketAddress`, or a `Pipe`), not yet
/// resolved.
public struct SocketAddressConfig: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// `pipe.path`: a Unix domain socket (then `host` is empty and `port` 0).
    public var pipePath: String?

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
        self.pipePath = nil
    }

    public init(pipePath: String) {
        self.host = ""
        self.port = 0
        self.pipePath = pipePath
    }

    /// Envoy's form for stat names: `127.0.0.1_10000`, `[::1]_10000`.
    public var statName: String {
        if let pipePath { return pipePath }
        return host.contains(":") ? "[\(host)]_\(port)" : "\(host)_\(port)"
    }

    public var description: String {
        if let pipePath { return "unix:\(pipePath)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// `dynamic_resources`: where listeners and clusters come from when a control plane serves them.
public struct DynamicResourcesConfig: Sendable {
    /// `ads_config.api_type`.
    public enum APIType: String, Sendable {
        case stateOfTheWorld = "GRPC"
        case delta = "DELTA_GRPC"
    }

    public var apiType: APIType
    /// The static cluster named by `ads_config.grpc_services[0].envoy_grpc.cluster_name`.
    public var clusterName: String
    /// Where that cluster points (its first endpoint): the ADS client dials it.
    public var target: SocketAddressConfig
    /// `lds_config` / `cds_config` use ADS.
    public var ldsOverADS: Bool
    public var cdsOverADS: Bool
    /// `initial_fetch_timeout` of the config sources (Envoy default 15 s; zero disables).
    public var initialFetchTimeout: TimeAmount?
    /// `ads_config.set_node_on_first_message_only`.
    public var setNodeOnFirstMessageOnly: Bool

    public init(
        apiType: APIType, clusterName: String, target: SocketAddressConfig, ldsOverADS: Bool, cdsOverADS: Bool,
        initialFetchTimeout: TimeAmount?, setNodeOnFirstMessageOnly: Bool
    ) {
        self.apiType = apiType
        self.clusterName = clusterName
        self.target = target
        self.ldsOverADS = ldsOverADS
        self.cdsOverADS = cdsOverADS
        self.initialFetchTimeout = initialFetchTimeout
        self.setNodeOnFirstMessageOnly = setNodeOnFirstMessageOnly
    }
}

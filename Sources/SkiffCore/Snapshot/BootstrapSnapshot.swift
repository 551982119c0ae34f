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
    }

    public func cluster(named name: String) -> ClusterConfig? {
        clusters.first { $0.name == name }
    }
}

/// The `node` block of the bootstrap: how this proxy identifies itself.
public struct NodeInfo: Sendable, Equatable {
    public var id: String
    public var cluster: String

    public init(id: String, cluster: String) {
        self.id = id
        self.cluster = cluster
    }
}

/// A socket address from config (`envoy.config.core.v3.SocketAddress`), not yet resolved.
public struct SocketAddressConfig: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Envoy's form for stat names: `127.0.0.1_10000`, `[::1]_10000`.
    public var statName: String {
        host.contains(":") ? "[\(host)]_\(port)" : "\(host)_\(port)"
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

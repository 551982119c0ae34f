import EnvoyAPI
import Foundation
import SkiffCore
import SwiftProtobuf

/// Bootstrap → `BootstrapSnapshot`: the one translation path static config (and, later, xDS
/// resources) goes through. Validates everything, including that every cluster a route or TCP
/// proxy names exists, and fails with the path of the first problem.
public enum BootstrapTranslator {
    public static func translate(_ bootstrap: Envoy_Config_Bootstrap_V3_Bootstrap) throws -> BootstrapSnapshot {
        let root = FieldPath()
        try SupportedFields.check(
            bootstrap, allowed: ["node", "static_resources", "admin"], at: root,
            hint: "this build supports static_resources listeners and clusters, admin and node"
        )
        try SupportedFields.check(bootstrap.staticResources, allowed: ["listeners", "clusters"], at: root / "static_resources")
        try SupportedFields.check(
            bootstrap.node, allowed: ["id", "cluster", "metadata", "locality", "user_agent_name", "user_agent_version"],
            at: root / "node"
        )
        let node = NodeInfo(id: bootstrap.node.id, cluster: bootstrap.node.cluster)

        var admin: SocketAddressConfig?
        if bootstrap.hasAdmin {
            try SupportedFields.check(bootstrap.admin, allowed: ["address", "access_log_path", "access_log"], at: root / "admin")
            if bootstrap.admin.hasAddress {
                admin = try ProtoValues.socketAddress(bootstrap.admin.address, at: root / "admin" / "address")
            }
        }

        let resources = root / "static_resources"
        var clusters: [ClusterConfig] = []
        var clusterNames = Set<String>()
        for (index, cluster) in bootstrap.staticResources.clusters.enumerated() {
            let translated = try ClusterTranslator.translate(cluster, at: resources / "clusters" / index)
            guard clusterNames.insert(translated.name).inserted else {
                throw (resources / "clusters" / index / "name").error("duplicate cluster name \"\(translated.name)\"")
            }
            clusters.append(translated)
        }

        var listeners: [ListenerConfig] = []
        var listenerNames = Set<String>()
        for (index, listener) in bootstrap.staticResources.listeners.enumerated() {
            let path = resources / "listeners" / index
            let translated = try ListenerTranslator.translate(listener, at: path, clusters: clusterNames)
            guard listenerNames.insert(translated.name).inserted else {
                throw (path / "name").error("duplicate listener name \"\(translated.name)\"")
            }
            listeners.append(translated)
        }

        var dumpOptions = JSONEncodingOptions()
        dumpOptions.preserveProtoFieldNames = true
        let json = (try? bootstrap.jsonString(options: dumpOptions)) ?? "{}"
        return BootstrapSnapshot(
            node: node, admin: admin, listeners: listeners, clusters: clusters,
            loadedAt: wallClockSeconds(), sourceJSON: json
        )
    }
}

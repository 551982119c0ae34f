import EnvoyAPI
import Foundation
import NIOCore
import SkiffCore
import SwiftProtobuf

/// Bootstrap → `BootstrapSnapshot`: the one translation path static config (and, later, xDS
/// resources) goes through. Validates everything, including that every cluster a route or TCP
/// proxy names exists, and fails with the path of the first problem.
public enum BootstrapTranslator {
    public static func translate(_ bootstrap: Envoy_Config_Bootstrap_V3_Bootstrap) throws -> BootstrapSnapshot {
        let root = FieldPath()
        try SupportedFields.check(
            bootstrap, allowed: ["node", "static_resources", "dynamic_resources", "admin", "stats_config", "stats_flush_interval"],
            at: root,
            hint: "this build supports static_resources, dynamic_resources over ADS, admin, node and stats_config"
        )
        try SupportedFields.check(bootstrap.staticResources, allowed: ["listeners", "clusters"], at: root / "static_resources")
        try SupportedFields.check(
            bootstrap.node, allowed: ["id", "cluster", "metadata", "locality", "user_agent_name", "user_agent_version"],
            at: root / "node"
        )
        var node = NodeInfo(id: bootstrap.node.id, cluster: bootstrap.node.cluster)
        node.istio = IstioExtensions.metadata(bootstrap.node)

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

        var dynamic: DynamicResourcesConfig?
        if bootstrap.hasDynamicResources {
            dynamic = try dynamicResources(bootstrap.dynamicResources, clusters: clusters, at: root / "dynamic_resources")
        }

        var dumpOptions = JSONEncodingOptions()
        dumpOptions.preserveProtoFieldNames = true
        let json = (try? bootstrap.jsonString(options: dumpOptions)) ?? "{}"
        var snapshot = BootstrapSnapshot(
            node: node, admin: admin, listeners: listeners, clusters: clusters,
            loadedAt: wallClockSeconds(), sourceJSON: json
        )
        snapshot.dynamic = dynamic
        if bootstrap.hasStatsConfig {
            snapshot.stats = try StatsConfigTranslator.translate(bootstrap.statsConfig, at: root / "stats_config")
        }
        snapshot.nodeBytes = (try? bootstrap.node.serializedBytes()) ?? []
        return snapshot
    }

    /// `dynamic_resources`: LDS and CDS over ADS, the ADS stream to a static cluster by
    /// `envoy_grpc`. The cluster must exist and have one endpoint (TCP or a Unix socket).
    static func dynamicResources(
        _ dynamic: Envoy_Config_Bootstrap_V3_Bootstrap.DynamicResources, clusters: [ClusterConfig], at path: FieldPath
    ) throws -> DynamicResourcesConfig? {
        try SupportedFields.check(dynamic, allowed: ["lds_config", "cds_config", "ads_config"], at: path,
                                  hint: "Skiff takes dynamic resources over ADS only")
        var fetchTimeout: TimeAmount? = .seconds(15)
        for (field, source, isSet) in [("lds_config", dynamic.ldsConfig, dynamic.hasLdsConfig), ("cds_config", dynamic.cdsConfig, dynamic.hasCdsConfig)] where isSet {
            try ProtoValues.checkADSSource(source, at: path / field)
            if source.hasInitialFetchTimeout {
                let timeout = ProtoValues.duration(source.initialFetchTimeout)
                fetchTimeout = timeout.nanoseconds > 0 ? timeout : nil
            }
        }
        guard dynamic.hasLdsConfig || dynamic.hasCdsConfig else { return nil }
        guard dynamic.hasAdsConfig else {
            throw (path / "ads_config").error("ads_config is required when lds_config or cds_config uses ads")
        }
        let ads = dynamic.adsConfig
        let adsPath = path / "ads_config"
        try SupportedFields.check(
            ads, allowed: ["api_type", "transport_api_version", "grpc_services", "set_node_on_first_message_only"], at: adsPath
        )
        let apiType: DynamicResourcesConfig.APIType
        switch ads.apiType {
        case .grpc: apiType = .stateOfTheWorld
        case .deltaGrpc: apiType = .delta
        default:
            throw (adsPath / "api_type").error("\(ads.apiType) is not supported (GRPC, DELTA_GRPC)")
        }
        guard ads.grpcServices.count == 1 else {
            throw (adsPath / "grpc_services").error("exactly one grpc_services entry is required")
        }
        let service = ads.grpcServices[0]
        let servicePath = adsPath / "grpc_services" / 0
        try SupportedFields.check(service, allowed: ["envoy_grpc", "timeout"], at: servicePath, hint: "use envoy_grpc to a static cluster")
        guard case .envoyGrpc(let envoyGRPC) = service.targetSpecifier else {
            throw (servicePath / "envoy_grpc").error("envoy_grpc is required")
        }
        try SupportedFields.check(envoyGRPC, allowed: ["cluster_name", "authority"], at: servicePath / "envoy_grpc")
        guard let cluster = clusters.first(where: { $0.name == envoyGRPC.clusterName }) else {
            throw (servicePath / "envoy_grpc" / "cluster_name").error("no static cluster named \"\(envoyGRPC.clusterName)\"")
        }
        guard let endpoint = cluster.endpoints.first else {
            throw (servicePath / "envoy_grpc" / "cluster_name").error("cluster \"\(cluster.name)\" has no endpoint")
        }
        return DynamicResourcesConfig(
            apiType: apiType, clusterName: cluster.name, target: endpoint.address,
            ldsOverADS: dynamic.hasLdsConfig, cdsOverADS: dynamic.hasCdsConfig,
            initialFetchTimeout: fetchTimeout, setNodeOnFirstMessageOnly: ads.setNodeOnFirstMessageOnly
        )
    }
}

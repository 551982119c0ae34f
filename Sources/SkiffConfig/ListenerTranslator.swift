import EnvoyAPI
import NIOCore
import SkiffCore
import SwiftProtobuf

/// `envoy.config.listener.v3.Listener` → `ListenerConfig`.
enum ListenerTranslator {
    static let hcmType = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    static let tcpProxyType = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

    static func translate(_ listener: Envoy_Config_Listener_V3_Listener, at path: FieldPath, clusters: Set<String>?) throws -> ListenerConfig {
        try SupportedFields.check(
            listener,
            allowed: [
                "name", "address", "filter_chains", "default_filter_chain", "per_connection_buffer_limit_bytes",
                "stat_prefix", "traffic_direction", "enable_reuse_port", "metadata", "listener_filters",
                "listener_filters_timeout", "continue_on_listener_filters_timeout", "use_original_dst", "bind_to_port",
            ],
            at: path
        )
        let address = try ProtoValues.socketAddress(listener.address, at: path / "address")
        guard address.pipePath == nil, ProtoValues.ipLiteral(address.host) else {
            throw (path / "address" / "socket_address" / "address").error("a listener binds an IP address, not \"\(address.host)\"")
        }
        var chains: [FilterChainConfig] = []
        for (index, chain) in listener.filterChains.enumerated() {
            chains.append(try filterChain(chain, at: path / "filter_chains" / index, clusters: clusters))
        }
        if listener.hasDefaultFilterChain {
            var fallback = try filterChain(listener.defaultFilterChain, at: path / "default_filter_chain", clusters: clusters)
            fallback.destinationPort = nil
            fallback.isDefault = true
            chains.append(fallback)
        }
        guard !chains.isEmpty else {
            throw (path / "filter_chains").error("a listener needs at least one filter chain")
        }
        let name = listener.name.isEmpty ? address.statName : listener.name
        let bufferLimit = listener.hasPerConnectionBufferLimitBytes
            ? max(Int(listener.perConnectionBufferLimitBytes.value), 1024) : 1024 * 1024
        let statPrefix = listener.statPrefix.isEmpty ? address.statName : listener.statPrefix
        for index in chains.indices {
            if case .httpConnectionManager(var hcm) = chains[index].filter {
                hcm.listenerStatScope = "\(statPrefix).http.\(hcm.statPrefix)"
                chains[index].filter = .httpConnectionManager(hcm)
            }
        }
        if listener.trafficDirection == .outbound {
            // Spans from an outbound listener are CLIENT spans named `egress`; Istio's metrics
            // are reported by the source.
            for index in chains.indices {
                switch chains[index].filter {
                case .httpConnectionManager(var hcm):
                    if hcm.tracing != nil { hcm.tracing?.egress = true }
                    if hcm.istioStats != nil { hcm.istioStats = .source }
                    chains[index].filter = .httpConnectionManager(hcm)
                case .tcpProxy(var tcp):
                    if tcp.istioStats != nil { tcp.istioStats = .source }
                    chains[index].filter = .tcpProxy(tcp)
                }
            }
        }
        var out = ListenerConfig(name: name, address: address, filterChains: chains, bufferLimitBytes: bufferLimit, statPrefix: statPrefix)
        for (index, filter) in listener.listenerFilters.enumerated() {
            let filterPath = path / "listener_filters" / index
            let typeName: String
            switch filter.configType {
            case .typedConfig(let any): typeName = any.typeURL.split(separator: "/").last.map(String.init) ?? any.typeURL
            default: typeName = ""
            }
            if filter.name == httpInspectorName || typeName == httpInspectorType {
                out.httpInspector = true
                continue
            }
            if filter.name == originalDstName || typeName == originalDstType {
                out.originalDst = true
                continue
            }
            guard filter.name == tlsInspectorName || typeName == tlsInspectorType else {
                throw filterPath.error(
                    "listener filter \"\(filter.name)\" is not supported yet (envoy.filters.listener.tls_inspector, http_inspector, original_dst)"
                )
            }
            out.tlsInspector = true
        }
        if listener.hasListenerFiltersTimeout {
            out.listenerFiltersTimeout = ProtoValues.timeout(listener.listenerFiltersTimeout, isSet: true, default: nil)
        }
        out.continueOnListenerFiltersTimeout = listener.continueOnListenerFiltersTimeout
        out.useOriginalDst = listener.useOriginalDst.value
        out.bindToPort = listener.hasBindToPort ? listener.bindToPort.value : true
        switch listener.trafficDirection {
        case .inbound: out.trafficDirection = .inbound
        case .outbound: out.trafficDirection = .outbound
        default: out.trafficDirection = .unspecified
        }
        let needsInspector = chains.contains {
            !$0.serverNames.isEmpty || $0.transportProtocol == "tls" || (!$0.applicationProtocols.isEmpty && !out.httpInspector)
        }
        if needsInspector, !out.tlsInspector {
            throw (path / "listener_filters").error("filter chains match on TLS properties; add envoy.filters.listener.tls_inspector")
        }
        return out
    }

    static let httpInspectorName = "envoy.filters.listener.http_inspector"
    static let httpInspectorType = "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"
    static let originalDstName = "envoy.filters.listener.original_dst"
    static let originalDstType = "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
    static let tlsInspectorName = "envoy.filters.listener.tls_inspector"
    static let tlsInspectorType = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"

    static func filterChain(_ chain: Envoy_Config_Listener_V3_FilterChain, at path: FieldPath, clusters: Set<String>?) throws -> FilterChainConfig {
        try SupportedFields.check(chain, allowed: ["filters", "filter_chain_match", "name", "metadata", "transport_socket"], at: path)
        var port: Int?
        var serverNames: [String] = []
        var transportProtocol: String?
        var applicationProtocols: [String] = []
        var prefixRanges: [CIDRRange] = []
        var sourcePrefixRanges: [CIDRRange] = []
        var sourceType = SourceType.any
        var sourcePorts: [Int] = []
        if chain.hasFilterChainMatch {
            let match = chain.filterChainMatch
            let matchPath = path / "filter_chain_match"
            try SupportedFields.check(
                match, allowed: [
                    "destination_port", "server_names", "transport_protocol", "application_protocols", "prefix_ranges",
                    "source_prefix_ranges", "source_type", "source_ports",
                ], at: matchPath
            )
            prefixRanges = try match.prefixRanges.enumerated().map { try cidr($1, at: matchPath / "prefix_ranges" / $0) }
            sourcePrefixRanges = try match.sourcePrefixRanges.enumerated().map { try cidr($1, at: matchPath / "source_prefix_ranges" / $0) }
            switch match.sourceType {
            case .sameIpOrLoopback: sourceType = .local
            case .external: sourceType = .external
            default: sourceType = .any
            }
            sourcePorts = match.sourcePorts.map { Int($0) }
            port = match.hasDestinationPort ? Int(match.destinationPort.value) : nil
            serverNames = match.serverNames.map { $0.lowercased() }
            transportProtocol = match.transportProtocol.isEmpty ? nil : match.transportProtocol
            applicationProtocols = match.applicationProtocols
        }
        guard let terminal = chain.filters.last else {
            throw (path / "filters").error("a filter chain needs a terminal filter (http_connection_manager or tcp_proxy)")
        }
        let filterPath = path / "filters" / (chain.filters.count - 1)
        var networkRBAC: RBACFilterConfig?
        var istioStats = false
        for (index, filter) in chain.filters.dropLast().enumerated() {
            let leadingPath = path / "filters" / index
            if IstioExtensions.isStatsFilter(filter.name) {
                istioStats = true
                continue
            }
            if IstioExtensions.isIgnored(filter.name) { continue }
            guard case .typedConfig(let any) = filter.configType, any.typeURL.hasSuffix("/" + RBACTranslator.networkType), networkRBAC == nil else {
                throw leadingPath.error("network filter \"\(filter.name)\" is not supported yet before the terminal filter (one envoy.filters.network.rbac)")
            }
            let message = try unpack(Envoy_Extensions_Filters_Network_Rbac_V3_RBAC.self, from: any, at: leadingPath / "typed_config")
            networkRBAC = try RBACTranslator.network(message, at: leadingPath / "typed_config")
        }
        var filter = try networkFilter(terminal, at: filterPath, clusters: clusters)
        if istioStats, case .tcpProxy(var tcp) = filter {
            tcp.istioStats = .destination  // the listener's direction decides; see translate
            filter = .tcpProxy(tcp)
        }
        var out = FilterChainConfig(name: chain.name, destinationPort: port, filter: filter, fingerprint: Fingerprint.of(chain))
        out.serverNames = serverNames
        out.transportProtocol = transportProtocol
        out.applicationProtocols = applicationProtocols
        out.prefixRanges = prefixRanges
        out.sourcePrefixRanges = sourcePrefixRanges
        out.sourceType = sourceType
        out.sourcePorts = sourcePorts
        out.networkRBAC = networkRBAC
        if chain.hasTransportSocket {
            out.tls = try TLSTranslator.downstream(chain.transportSocket, at: path / "transport_socket")
        }
        return out
    }

    /// A filter chain's CIDR: Envoy reads an unset `prefix_len` as 0 (every address).
    static func cidr(_ range: Envoy_Config_Core_V3_CidrRange, at path: FieldPath) throws -> CIDRRange {
        guard let out = CIDRRange(range.addressPrefix, prefixLength: Int(range.prefixLen.value)) else {
            throw (path / "address_prefix").error("\"\(range.addressPrefix)\"/\(range.prefixLen.value) is not an IP range")
        }
        return out
    }

    static func networkFilter(_ filter: Envoy_Config_Listener_V3_Filter, at path: FieldPath, clusters: Set<String>?) throws -> NetworkFilterConfig {
        guard case .typedConfig(let any) = filter.configType else {
            throw (path / "typed_config").error("filter \"\(filter.name)\" needs a typed_config")
        }
        let typeName = any.typeURL.split(separator: "/").last.map(String.init) ?? any.typeURL
        let typedPath = path / "typed_config"
        switch typeName {
        case hcmType:
            let hcm = try unpack(Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.self, from: any, at: typedPath)
            return .httpConnectionManager(try HTTPConnectionManagerTranslator.translate(hcm, at: typedPath, clusters: clusters))
        case tcpProxyType:
            let tcp = try unpack(Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.self, from: any, at: typedPath)
            return .tcpProxy(try tcpProxy(tcp, at: typedPath, clusters: clusters))
        default:
            throw typedPath.error("network filter \(typeName) is not supported yet (http_connection_manager, tcp_proxy)")
        }
    }

    static func tcpProxy(_ tcp: Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy, at path: FieldPath, clusters: Set<String>?) throws -> TCPProxyConfig {
        try SupportedFields.check(
            tcp, allowed: ["stat_prefix", "cluster", "weighted_clusters", "idle_timeout", "max_connect_attempts", "access_log"], at: path
        )
        guard !tcp.statPrefix.isEmpty else {
            throw (path / "stat_prefix").error("stat_prefix is required")
        }
        let target: ClusterTarget
        switch tcp.clusterSpecifier {
        case .cluster(let name):
            guard clusters?.contains(name) ?? true else {
                throw (path / "cluster").error("unknown cluster \"\(name)\"")
            }
            target = .single(name)
        case .weightedClusters(let weighted):
            var entries: [WeightedClusterEntry] = []
            for (index, entry) in weighted.clusters.enumerated() {
                let entryPath = path / "weighted_clusters" / "clusters" / index
                try SupportedFields.check(entry, allowed: ["name", "weight"], at: entryPath)
                guard clusters?.contains(entry.name) ?? true else {
                    throw (entryPath / "name").error("unknown cluster \"\(entry.name)\"")
                }
                entries.append(WeightedClusterEntry(name: entry.name, weight: Int(entry.weight)))
            }
            let total = entries.reduce(0) { $0 + $1.weight }
            guard total > 0 else {
                throw (path / "weighted_clusters").error("the sum of weights must be greater than 0")
            }
            target = .weighted(entries, totalWeight: total)
        case nil:
            throw path.error("cluster or weighted_clusters is required")
        }
        let attempts = tcp.hasMaxConnectAttempts ? Int(tcp.maxConnectAttempts.value) : 1
        guard attempts >= 1 else {
            throw (path / "max_connect_attempts").error("must be at least 1")
        }
        var config = TCPProxyConfig(
            statPrefix: tcp.statPrefix, target: target,
            idleTimeout: ProtoValues.timeout(tcp.idleTimeout, isSet: tcp.hasIdleTimeout, default: .hours(1)),
            maxConnectAttempts: attempts
        )
        config.accessLogs = try AccessLogTranslator.translate(tcp.accessLog, at: path / "access_log")
        return config
    }
}

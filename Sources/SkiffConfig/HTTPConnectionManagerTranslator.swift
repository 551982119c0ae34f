import EnvoyAPI
import NIOCore
import SkiffCore
import SwiftProtobuf

/// `HttpConnectionManager` → `HTTPConnectionManagerConfig`, with Envoy's defaults.
enum HTTPConnectionManagerTranslator {
    static let routerType = "envoy.extensions.filters.http.router.v3.Router"

    static func translate(
        _ hcm: Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager,
        at path: FieldPath, clusters: Set<String>?
    ) throws -> HTTPConnectionManagerConfig {
        try SupportedFields.check(
            hcm,
            allowed: [
                "stat_prefix", "route_config", "codec_type", "http_filters", "common_http_protocol_options",
                "forward_client_cert_details", "set_current_client_cert_details",
                "max_request_headers_kb", "request_headers_timeout", "request_timeout", "stream_idle_timeout",
                "server_name", "use_remote_address", "skip_xff_append", "generate_request_id",
                "http_protocol_options", "rds", "http2_protocol_options", "upgrade_configs", "access_log", "tracing",
            ],
            at: path
        )
        guard !hcm.statPrefix.isEmpty else {
            throw (path / "stat_prefix").error("stat_prefix is required")
        }
        let codec: HTTPCodecType
        switch hcm.codecType {
        case .auto: codec = .auto
        case .http1: codec = .http1
        case .http2: codec = .http2
        default:
            throw (path / "codec_type").error("\(hcm.codecType) is not supported (AUTO, HTTP1, HTTP2)")
        }
        let table: RouteTable
        var rdsName: String?
        switch hcm.routeSpecifier {
        case .routeConfig(let routeConfig):
            table = try RouteTranslator.translate(routeConfig, at: path / "route_config", clusters: clusters)
        case .rds(let rds):
            try SupportedFields.check(rds, allowed: ["config_source", "route_config_name"], at: path / "rds")
            guard !rds.routeConfigName.isEmpty else {
                throw (path / "rds" / "route_config_name").error("route_config_name is required")
            }
            try ProtoValues.checkADSSource(rds.configSource, at: path / "rds" / "config_source")
            table = RouteTable(name: rds.routeConfigName, virtualHosts: [])
            rdsName = rds.routeConfigName
        default:
            throw path.error("route_config or rds is required (scoped routes are not supported)")
        }
        let (fault, localRateLimit, rbac) = try checkHTTPFilters(hcm.httpFilters, at: path / "http_filters")
        if hcm.hasHTTPProtocolOptions {
            try SupportedFields.check(hcm.httpProtocolOptions, allowed: [], at: path / "http_protocol_options")
        }

        var config = HTTPConnectionManagerConfig(statPrefix: hcm.statPrefix, routeTable: table)
        config.rdsName = rdsName
        config.codecType = codec
        if hcm.hasHTTP2ProtocolOptions {
            config.http2 = try http2Options(hcm.http2ProtocolOptions, at: path / "http2_protocol_options")
        }
        config.accessLogs = try AccessLogTranslator.translate(hcm.accessLog, at: path / "access_log")
        if hcm.httpFilters.contains(where: { IstioExtensions.isStatsFilter($0.name) }) {
            config.istioStats = .destination  // an outbound listener makes it .source
        }
        if hcm.hasTracing {
            config.tracing = try TracingTranslator.translate(hcm.tracing, at: path / "tracing", clusters: clusters)
        }
        for (index, upgrade) in hcm.upgradeConfigs.enumerated() {
            let upgradePath = path / "upgrade_configs" / index
            try SupportedFields.check(upgrade, allowed: ["upgrade_type", "enabled"], at: upgradePath)
            guard !upgrade.upgradeType.isEmpty else { throw (upgradePath / "upgrade_type").error("upgrade_type is required") }
            if !upgrade.hasEnabled || upgrade.enabled.value {
                config.upgradeTypes.insert(upgrade.upgradeType.lowercased())
            }
        }
        config.fault = fault
        config.localRateLimit = localRateLimit
        config.rbac = rbac
        switch hcm.forwardClientCertDetails {
        case .sanitize: config.forwardClientCert = .sanitize
        case .forwardOnly: config.forwardClientCert = .forwardOnly
        case .appendForward: config.forwardClientCert = .appendForward
        case .sanitizeSet: config.forwardClientCert = .sanitizeSet
        case .alwaysForwardOnly: config.forwardClientCert = .alwaysForwardOnly
        case .UNRECOGNIZED(let raw): throw (path / "forward_client_cert_details").error("unknown value \(raw)")
        }
        if hcm.hasSetCurrentClientCertDetails {
            let fields = hcm.setCurrentClientCertDetails
            try SupportedFields.check(fields, allowed: ["subject", "cert", "chain", "dns", "uri"], at: path / "set_current_client_cert_details")
            config.clientCertFields.subject = fields.hasSubject && fields.subject.value
            config.clientCertFields.cert = fields.cert
            config.clientCertFields.chain = fields.chain
            config.clientCertFields.dns = fields.dns
            config.clientCertFields.uri = fields.uri
        }
        if hcm.hasMaxRequestHeadersKb {
            let kb = Int(hcm.maxRequestHeadersKb.value)
            guard kb > 0, kb <= 8192 else {
                throw (path / "max_request_headers_kb").error("must be between 1 and 8192")
            }
            config.maxRequestHeadersBytes = kb * 1024
        }
        if hcm.hasCommonHTTPProtocolOptions {
            let common = hcm.commonHTTPProtocolOptions
            try SupportedFields.check(
                common, allowed: ["idle_timeout", "max_requests_per_connection", "max_stream_duration"], at: path / "common_http_protocol_options"
            )
            config.idleTimeout = ProtoValues.timeout(common.idleTimeout, isSet: common.hasIdleTimeout, default: config.idleTimeout)
            config.maxStreamDuration = ProtoValues.timeout(common.maxStreamDuration, isSet: common.hasMaxStreamDuration, default: nil)
            if common.hasMaxRequestsPerConnection, common.maxRequestsPerConnection.value > 0 {
                config.maxRequestsPerConnection = Int(common.maxRequestsPerConnection.value)
            }
        }
        config.requestHeadersTimeout = ProtoValues.timeout(hcm.requestHeadersTimeout, isSet: hcm.hasRequestHeadersTimeout, default: nil)
        config.requestTimeout = ProtoValues.timeout(hcm.requestTimeout, isSet: hcm.hasRequestTimeout, default: nil)
        config.streamIdleTimeout = ProtoValues.timeout(hcm.streamIdleTimeout, isSet: hcm.hasStreamIdleTimeout, default: .minutes(5))
        if !hcm.serverName.isEmpty {
            config.serverName = hcm.serverName
        }
        config.useRemoteAddress = hcm.hasUseRemoteAddress && hcm.useRemoteAddress.value
        config.skipXFFAppend = hcm.skipXffAppend
        config.generateRequestID = hcm.hasGenerateRequestID ? hcm.generateRequestID.value : true
        return config
    }

    /// `envoy.config.core.v3.Http2ProtocolOptions` (HCM and clusters alike).
    static func http2Options(_ options: Envoy_Config_Core_V3_Http2ProtocolOptions, at path: FieldPath) throws -> HTTP2Options {
        try SupportedFields.check(
            options,
            allowed: ["max_concurrent_streams", "initial_stream_window_size", "initial_connection_window_size", "allow_connect", "hpack_table_size"],
            at: path
        )
        var out = HTTP2Options()
        if options.hasMaxConcurrentStreams {
            let value = Int(options.maxConcurrentStreams.value)
            guard value >= 1, value <= 2_147_483_647 else { throw (path / "max_concurrent_streams").error("must be between 1 and 2147483647") }
            out.maxConcurrentStreams = value
        }
        if options.hasInitialStreamWindowSize {
            let value = Int(options.initialStreamWindowSize.value)
            guard value >= 65_535, value <= 2_147_483_647 else {
                throw (path / "initial_stream_window_size").error("must be between 65535 and 2147483647")
            }
            out.initialStreamWindowSize = value
        }
        if options.hasInitialConnectionWindowSize {
            let value = Int(options.initialConnectionWindowSize.value)
            guard value >= 65_535, value <= 2_147_483_647 else {
                throw (path / "initial_connection_window_size").error("must be between 65535 and 2147483647")
            }
            out.initialConnectionWindowSize = value
        }
        out.allowConnect = options.allowConnect
        return out
    }

    /// Skiff runs the router as the only HTTP filter for now; it must be last, as in Envoy.
    /// Checks the filter list (fault, then the router last) and returns the fault filter's config
    /// when the chain has one.
    static func checkHTTPFilters(
        _ filters: [Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter], at path: FieldPath
    ) throws -> (FaultConfig?, LocalRateLimitConfig?, RBACFilterConfig?) {
        var fault: FaultConfig?
        var localRateLimit: LocalRateLimitConfig?
        var rbac: RBACFilterConfig?
        guard !filters.isEmpty else {
            throw path.error("the http_filters list must end with envoy.filters.http.router")
        }
        for (index, filter) in filters.enumerated() {
            let filterPath = path / index
            if IstioExtensions.isStatsFilter(filter.name) || IstioExtensions.isIgnored(filter.name) { continue }
            var typeName = ""
            if case .typedConfig(let any) = filter.configType {
                typeName = any.typeURL.split(separator: "/").last.map(String.init) ?? ""
                if typeName == routerType {
                    let router = try unpack(Envoy_Extensions_Filters_Http_Router_V3_Router.self, from: any, at: filterPath / "typed_config")
                    try SupportedFields.check(router, allowed: [], at: filterPath / "typed_config")
                }
            }
            let isRouter = typeName == routerType || (typeName.isEmpty && filter.name == "envoy.filters.http.router")
            if typeName == FaultTranslator.typeName, case .typedConfig(let any) = filter.configType, index < filters.count - 1 {
                guard fault == nil else {
                    throw filterPath.error("only one envoy.filters.http.fault filter is supported")
                }
                let message = try unpack(Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault.self, from: any, at: filterPath / "typed_config")
                fault = try FaultTranslator.translate(message, at: filterPath / "typed_config")
                continue
            }
            if typeName == LocalRateLimitTranslator.typeName, case .typedConfig(let any) = filter.configType, index < filters.count - 1 {
                guard localRateLimit == nil else {
                    throw filterPath.error("only one envoy.filters.http.local_ratelimit filter is supported")
                }
                let message = try unpack(Envoy_Extensions_Filters_Http_LocalRatelimit_V3_LocalRateLimit.self, from: any, at: filterPath / "typed_config")
                localRateLimit = try LocalRateLimitTranslator.translate(message, at: filterPath / "typed_config")
                continue
            }
            if typeName == RBACTranslator.httpType, case .typedConfig(let any) = filter.configType, index < filters.count - 1 {
                guard rbac == nil else {
                    throw filterPath.error("only one envoy.filters.http.rbac filter is supported")
                }
                let message = try unpack(Envoy_Extensions_Filters_Http_Rbac_V3_RBAC.self, from: any, at: filterPath / "typed_config")
                rbac = try RBACTranslator.http(message, at: filterPath / "typed_config")
                continue
            }
            if !isRouter {
                throw (filterPath / "typed_config").error(
                    "HTTP filter \(typeName.isEmpty ? filter.name : typeName) is not supported yet (envoy.filters.http.rbac, envoy.filters.http.fault, envoy.filters.http.local_ratelimit, envoy.filters.http.router)"
                )
            }
            if index != filters.count - 1 {
                throw filterPath.error("envoy.filters.http.router must be the last HTTP filter")
            }
        }
        return (fault, localRateLimit, rbac)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EnvoyAPI
import SkiffCore
import SwiftProtobuf

/// The connection manager's `tracing` → `TracingConfig`: providers `envoy.tracers.opentelemetry`
/// (OTLP over `envoy_grpc` to a cluster) and `envoy.tracers.zipkin` (JSON v2 over HTTP), the three
/// sampling percentages, `max_path_tag_length` and literal / request-header `custom_tags`.
enum TracingTranslator {
    static let openTelemetryType = "envoy.config.trace.v3.OpenTelemetryConfig"
    static let zipkinType = "envoy.config.trace.v3.ZipkinConfig"

    static func translate(
        _ tracing: Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.Tracing,
        at path: FieldPath, clusters: Set<String>?
    ) throws -> TracingConfig {
        try SupportedFields.check(
            tracing,
            allowed: ["client_sampling", "random_sampling", "overall_sampling", "max_path_tag_length", "custom_tags", "provider", "verbose", "spawn_upstream_span"],
            at: path
        )
        guard tracing.hasProvider else {
            throw (path / "provider").error("a tracing provider is required (bootstrap-level tracing is not supported)")
        }
        var config = TracingConfig(provider: try provider(tracing.provider, at: path / "provider", clusters: clusters))
        if tracing.hasRandomSampling { config.randomSampling = try percent(tracing.randomSampling, at: path / "random_sampling") }
        if tracing.hasClientSampling { config.clientSampling = try percent(tracing.clientSampling, at: path / "client_sampling") }
        if tracing.hasOverallSampling { config.overallSampling = try percent(tracing.overallSampling, at: path / "overall_sampling") }
        if tracing.hasMaxPathTagLength { config.maxPathTagLength = Int(tracing.maxPathTagLength.value) }
        for (index, tag) in tracing.customTags.enumerated() {
            let tagPath = path / "custom_tags" / index
            guard !tag.tag.isEmpty else { throw (tagPath / "tag").error("tag is required") }
            switch tag.type {
            case .literal(let literal):
                config.literalTags.append((tag.tag, literal.value))
            case .requestHeader(let header):
                guard !header.name.isEmpty else { throw (tagPath / "request_header" / "name").error("name is required") }
                config.headerTags.append((tag.tag, header.name.lowercased(), header.defaultValue.isEmpty ? nil : header.defaultValue))
            case .environment(let environment):
                let value = ProcessEnvironment.value(environment.name) ?? environment.defaultValue
                config.literalTags.append((tag.tag, value))
            case .metadata, .value:
                throw tagPath.error("custom tags from metadata or formatters are not supported (literal, environment, request_header are)")
            case nil:
                throw tagPath.error("a custom tag needs literal, environment or request_header")
            }
        }
        return config
    }

    static func provider(_ http: Envoy_Config_Trace_V3_Tracing.Http, at path: FieldPath, clusters: Set<String>?) throws -> TracingConfig.Provider {
        guard case .typedConfig(let any) = http.configType else {
            throw (path / "typed_config").error("typed_config is required")
        }
        let typeName = any.typeURL.split(separator: "/").last.map(String.init) ?? ""
        let configPath = path / "typed_config"
        func checkCluster(_ name: String, at clusterPath: FieldPath) throws {
            guard !name.isEmpty else { throw clusterPath.error("a collector cluster is required") }
            if let clusters, !clusters.contains(name) {
                throw clusterPath.error("unknown cluster \"\(name)\"")
            }
        }
        switch typeName {
        case openTelemetryType:
            let otel = try unpack(Envoy_Config_Trace_V3_OpenTelemetryConfig.self, from: any, at: configPath)
            try SupportedFields.check(otel, allowed: ["grpc_service", "service_name"], at: configPath, hint: "OTLP over grpc_service.envoy_grpc")
            let service = otel.grpcService
            try SupportedFields.check(service, allowed: ["envoy_grpc", "timeout"], at: configPath / "grpc_service")
            guard case .envoyGrpc(let grpc) = service.targetSpecifier else {
                throw (configPath / "grpc_service" / "envoy_grpc").error("envoy_grpc is required")
            }
            try SupportedFields.check(grpc, allowed: ["cluster_name", "authority"], at: configPath / "grpc_service" / "envoy_grpc")
            try checkCluster(grpc.clusterName, at: configPath / "grpc_service" / "envoy_grpc" / "cluster_name")
            return .openTelemetry(
                cluster: grpc.clusterName, authority: grpc.authority.isEmpty ? nil : grpc.authority,
                serviceName: otel.serviceName.isEmpty ? "unknown_service:envoy" : otel.serviceName
            )
        case zipkinType:
            let zipkin = try unpack(Envoy_Config_Trace_V3_ZipkinConfig.self, from: any, at: configPath)
            try SupportedFields.check(
                zipkin,
                allowed: ["collector_cluster", "collector_endpoint", "trace_id_128bit", "shared_span_context", "collector_endpoint_version", "collector_hostname"],
                at: configPath
            )
            try checkCluster(zipkin.collectorCluster, at: configPath / "collector_cluster")
            guard zipkin.collectorEndpoint.hasPrefix("/") else {
                throw (configPath / "collector_endpoint").error("collector_endpoint must be a path such as /api/v2/spans")
            }
            switch zipkin.collectorEndpointVersion {
            case .httpJson: break
            default:
                throw (configPath / "collector_endpoint_version").error("only HTTP_JSON is supported")
            }
            return .zipkin(
                cluster: zipkin.collectorCluster, endpoint: zipkin.collectorEndpoint,
                hostname: zipkin.collectorHostname.isEmpty ? nil : zipkin.collectorHostname,
                sharedSpanContext: zipkin.hasSharedSpanContext ? zipkin.sharedSpanContext.value : true,
                traceID128: zipkin.traceID128Bit
            )
        default:
            throw (configPath / "@type").error("tracer \(typeName) is not supported (OpenTelemetryConfig, ZipkinConfig)")
        }
    }

    static func percent(_ percent: Envoy_Type_V3_Percent, at path: FieldPath) throws -> Double {
        guard percent.value >= 0, percent.value <= 100 else { throw (path / "value").error("must be between 0 and 100") }
        return percent.value
    }
}

/// Reads the process environment (`custom_tags.environment`).
enum ProcessEnvironment {
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}

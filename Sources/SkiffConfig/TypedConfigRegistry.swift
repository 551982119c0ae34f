import EnvoyAPI
import Foundation
import SkiffCore
import SwiftProtobuf

/// The `typed_config` / `typed_extension_protocol_options` types Skiff can decode.
///
/// Decoding a type here does not mean Skiff implements it: the translator still rejects what it
/// does not support, with a precise path. Types outside this list fail at load with the path of
/// the `@type` that named them.
enum TypedConfigRegistry {
    static let messageTypes: [any SwiftProtobuf.Message.Type] = [
        Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.self,
        Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.self,
        Envoy_Extensions_Filters_Network_Rbac_V3_RBAC.self,
        Envoy_Extensions_Filters_Http_Router_V3_Router.self,
        Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault.self,
        Envoy_Extensions_Filters_Http_LocalRatelimit_V3_LocalRateLimit.self,
        Envoy_Extensions_Filters_Http_Rbac_V3_RBAC.self,
        Envoy_Extensions_Filters_Listener_OriginalDst_V3_OriginalDst.self,
        Envoy_Extensions_Filters_Listener_TlsInspector_V3_TlsInspector.self,
        Envoy_Extensions_Filters_Listener_HttpInspector_V3_HttpInspector.self,
        Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext.self,
        Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext.self,
        Envoy_Extensions_TransportSockets_RawBuffer_V3_RawBuffer.self,
        Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.self,
        Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog.self,
        Envoy_Extensions_AccessLoggers_Stream_V3_StdoutAccessLog.self,
        Envoy_Extensions_AccessLoggers_Stream_V3_StderrAccessLog.self,
        Envoy_Config_Trace_V3_OpenTelemetryConfig.self,
        Envoy_Config_Trace_V3_ZipkinConfig.self,
        Envoy_Extensions_TransportSockets_Tls_V3_Secret.self,
        Envoy_Config_Listener_V3_Listener.self,
        Envoy_Config_Cluster_V3_Cluster.self,
        Envoy_Config_Endpoint_V3_ClusterLoadAssignment.self,
        Envoy_Config_Route_V3_RouteConfiguration.self,
        Envoy_Extensions_Retry_Host_PreviousHosts_V3_PreviousHostsPredicate.self,
    ]

    static let knownTypeURLs: Set<String> = Set(messageTypes.map { "type.googleapis.com/\($0.protoMessageName)" })

    private static let registered: Bool = {
        for type in messageTypes {
            _ = Google_Protobuf_Any.register(messageType: type)
        }
        return true
    }()

    static func registerAll() {
        _ = registered
    }

    /// Walks the decoded YAML/JSON tree and rejects any `@type` Skiff cannot decode.
    static func checkTypeURLs(in value: Any, path: FieldPath) throws {
        if let dict = value as? [String: Any] {
            if let typeURL = dict["@type"] as? String, !knownTypeURLs.contains(typeURL) {
                let name = typeURL.split(separator: "/").last.map(String.init) ?? typeURL
                throw path.error("unknown type \(name) (not an extension this build of Skiff knows)")
            }
            for key in dict.keys.sorted() where key != "@type" {
                try checkTypeURLs(in: dict[key]!, path: path / key)
            }
        } else if let array = value as? [Any] {
            for (index, item) in array.enumerated() {
                try checkTypeURLs(in: item, path: path / index)
            }
        }
    }
}

import EnvoyAPI
import SkiffCore
import SwiftProtobuf

/// One xDS resource → its snapshot value, through the same translators as the bootstrap.
///
/// Errors name the resource and the field: `cluster "payments": lb_policy: MAGLEV is not
/// supported yet`, which is what a NACK's `error_detail` carries. Dynamic listeners and routes
/// are not checked against the current cluster set (Envoy's `validate_clusters` is false for
/// RDS): a route to a cluster that has not arrived yet answers 503 NC until it does.
public enum ResourceTranslator {
    public static func cluster(_ cluster: Envoy_Config_Cluster_V3_Cluster) throws -> ClusterConfig {
        try ClusterTranslator.translate(cluster, at: FieldPath())
    }

    public static func listener(_ listener: Envoy_Config_Listener_V3_Listener) throws -> ListenerConfig {
        try ListenerTranslator.translate(listener, at: FieldPath(), clusters: nil)
    }

    public static func routeConfiguration(_ route: Envoy_Config_Route_V3_RouteConfiguration) throws -> RouteTable {
        try RouteTranslator.translate(route, at: FieldPath(), clusters: nil)
    }

    /// An SDS secret: a certificate with its key, or a validation context (trust bundle).
    public static func secret(_ secret: Envoy_Extensions_TransportSockets_Tls_V3_Secret) throws -> TLSSecret {
        let path = FieldPath()
        try SupportedFields.check(secret, allowed: ["name", "tls_certificate", "validation_context"], at: path,
                                  hint: "session ticket keys and generic secrets are not used")
        switch secret.type {
        case .tlsCertificate(let certificate):
            return .certificate(try TLSTranslator.certificate(certificate, at: path / "tls_certificate"))
        case .validationContext(let validation):
            return .validation(try TLSTranslator.validation(validation, at: path / "validation_context"))
        default:
            throw path.error("a tls_certificate or validation_context is required")
        }
    }

    /// A resource as Envoy-shaped JSON (with `@type`) for `/config_dump`.
    public static func dumpJSON(_ resource: Google_Protobuf_Any) -> String {
        TypedConfigRegistry.registerAll()
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return redactPrivateKeys((try? resource.jsonString(options: options)) ?? "{}")
    }

    public static func endpoints(_ assignment: Envoy_Config_Endpoint_V3_ClusterLoadAssignment) throws -> [EndpointConfig] {
        try ClusterTranslator.endpoints(of: assignment, discovery: .eds, at: FieldPath())
    }

    /// Private keys never leave the process: `private_key` data sources are dumped as
    /// `[redacted]`, as Envoy redacts its sensitive fields.
    public static func redactPrivateKeys(_ json: String) -> String {
        guard json.contains("\"private_key\"") else { return json }
        return json.replacing(
            /"private_key":\{"inline_(string|bytes)":"(?:[^"\\]|\\.)*"\}/,
            with: { match in match.output.1 == "bytes" ? #""private_key":{"inline_bytes":"W3JlZGFjdGVkXQ=="}"# : #""private_key":{"inline_string":"[redacted]"}"# }
        )
    }
}

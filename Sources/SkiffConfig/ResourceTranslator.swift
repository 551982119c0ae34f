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

    /// A resource as Envoy-shaped JSON (with `@type`) for `/config_dump`.
    public static func dumpJSON(_ resource: Google_Protobuf_Any) -> String {
        TypedConfigRegistry.registerAll()
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return (try? resource.jsonString(options: options)) ?? "{}"
    }

    public static func endpoints(_ assignment: Envoy_Config_Endpoint_V3_ClusterLoadAssignment) throws -> [EndpointConfig] {
        try ClusterTranslator.endpoints(of: assignment, discovery: .eds, at: FieldPath())
    }
}

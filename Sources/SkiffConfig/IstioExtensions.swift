import EnvoyAPI
import SkiffCore
import SwiftProtobuf

/// Istio's own filters in an Istio bootstrap or xDS push. `istio.stats` turns on Istio's
/// standard metrics (its `stats.PluginConfig` body is not read: the labels are Istio's standard
/// set, the reporter follows the listener's `traffic_direction`). `istio.metadata_exchange` and
/// `istio.alpn` are accepted and do nothing: Skiff reads `x-envoy-peer-metadata` when a peer
/// sends it and otherwise labels peers from their SPIFFE identity.
enum IstioExtensions {
    static func isStatsFilter(_ name: String) -> Bool {
        name == "istio.stats" || name == "envoy.filters.http.istio_stats" || name == "envoy.filters.network.istio_stats"
    }

    static func isIgnored(_ name: String) -> Bool {
        name == "istio.metadata_exchange" || name == "istio.alpn" || name == "envoy.filters.http.peer_metadata"
            || name == "envoy.filters.network.metadata_exchange"
    }

    /// Drops the `typed_config` of Istio's filters from a YAML/JSON bootstrap before it is decoded:
    /// their types (`stats.PluginConfig`, `TypedStruct`) are not part of Envoy's API.
    static func stripConfigs(_ value: Any) -> Any {
        switch value {
        case var dict as [String: Any]:
            if let name = dict["name"] as? String, isStatsFilter(name) || isIgnored(name) {
                dict.removeValue(forKey: "typed_config")
            }
            return dict.mapValues(stripConfigs)
        case let array as [Any]:
            return array.map(stripConfigs)
        default:
            return value
        }
    }

    /// `node.metadata` → Istio's workload labels.
    static func metadata(_ node: Envoy_Config_Core_V3_Node) -> IstioMetadata {
        guard node.hasMetadata else { return IstioMetadata() }
        var fields: [String: String] = [:]
        var labels: [String: String] = [:]
        for (key, value) in node.metadata.fields {
            switch value.kind {
            case .stringValue(let text): fields[key] = text
            case .structValue(let nested) where key == "LABELS":
                for (label, labelValue) in nested.fields {
                    if case .stringValue(let text) = labelValue.kind { labels[label] = text }
                }
            default: break
            }
        }
        return IstioMetadata(fields: fields, labels: labels)
    }
}

import EnvoyAPI
import Foundation
import SkiffCore
import SwiftProtobuf
import Yams

/// Loads an Envoy v3 `Bootstrap` from YAML or JSON and translates it into a snapshot.
///
/// YAML is turned into JSON and decoded with swift-protobuf's JSON decoder, with every
/// `typed_config` type Skiff knows registered for `google.protobuf.Any`. Before decoding, the JSON
/// tree is scanned for `@type` URLs Skiff does not know, so the error names the field path rather
/// than failing somewhere inside the decoder.
public enum BootstrapLoader {
    public static func load(path: String) throws -> BootstrapSnapshot {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("", "cannot read config file \(path): \(error.localizedDescription)")
        }
        return try load(text: text, isJSON: path.hasSuffix(".json"))
    }

    public static func load(text: String, isJSON: Bool? = nil) throws -> BootstrapSnapshot {
        let bootstrap = try decode(text: text, isJSON: isJSON)
        return try BootstrapTranslator.translate(bootstrap)
    }

    /// YAML or JSON text → Envoy `Bootstrap` message.
    public static func decode(text: String, isJSON: Bool? = nil) throws -> Envoy_Config_Bootstrap_V3_Bootstrap {
        TypedConfigRegistry.registerAll()
        let tree: Any
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if isJSON ?? trimmed.hasPrefix("{") {
            do {
                tree = try JSONSerialization.jsonObject(with: Data(text.utf8))
            } catch {
                throw ConfigError("", "invalid JSON: \(error.localizedDescription)")
            }
        } else {
            do {
                tree = try Yams.load(yaml: text) ?? [String: Any]()
            } catch {
                throw ConfigError("", "invalid YAML: \(error)")
            }
        }
        guard let object = tree as? [String: Any] else {
            throw ConfigError("", "the bootstrap must be a YAML or JSON object")
        }
        let root = IstioExtensions.stripConfigs(object)
        try TypedConfigRegistry.checkTypeURLs(in: root, path: FieldPath())
        let json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: normalize(root))
        } catch {
            throw ConfigError("", "cannot convert YAML to JSON: \(error.localizedDescription)")
        }
        do {
            var options = JSONDecodingOptions()
            options.ignoreUnknownFields = false
            return try Envoy_Config_Bootstrap_V3_Bootstrap(jsonUTF8Data: json, options: options)
        } catch let error as JSONDecodingError {
            throw ConfigError("", "not a valid envoy.config.bootstrap.v3.Bootstrap: \(describe(error))")
        } catch {
            throw ConfigError("", "not a valid envoy.config.bootstrap.v3.Bootstrap: \(error)")
        }
    }

    /// YAML scalars that JSON cannot carry as-is (dates, non-string keys) become strings.
    static func normalize(_ value: Any) -> Any {
        switch value {
        case let dict as [String: Any]:
            return dict.mapValues(normalize)
        case let dict as [AnyHashable: Any]:
            var out: [String: Any] = [:]
            for (key, item) in dict { out["\(key)"] = normalize(item) }
            return out
        case let array as [Any]:
            return array.map(normalize)
        case let date as Date:
            return ISO8601DateFormatter().string(from: date)
        case is NSNull, is String, is Bool, is Int, is Double, is NSNumber:
            return value
        default:
            return "\(value)"
        }
    }

    static func describe(_ error: JSONDecodingError) -> String {
        switch error {
        case .unknownField(let name): return "unknown field \"\(name)\""
        case .unrecognizedEnumValue: return "unrecognized enum value"
        case .malformedDuration: return "malformed duration (use e.g. \"5s\" or \"0.250s\")"
        case .malformedNumber: return "malformed number"
        case .malformedString: return "malformed string"
        case .malformedBool: return "malformed bool"
        default: return "\(error)"
        }
    }
}

import EnvoyAPI
import Foundation
import SkiffConfig
import SwiftProtobuf

/// Where the bootstrap comes from: `-c FILE`, `--config-yaml TEXT`, or both (the YAML merged over
/// the file with protobuf merge semantics, as Envoy does).
enum BootstrapSource {
    static func decode(path: String?, yaml: String?) throws -> Envoy_Config_Bootstrap_V3_Bootstrap {
        var bootstrap = Envoy_Config_Bootstrap_V3_Bootstrap()
        guard path != nil || yaml != nil else {
            throw ConfigError("", "no configuration: pass -c/--config-path FILE or --config-yaml TEXT")
        }
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigError("", "cannot read config file \(path): \(error.localizedDescription)")
            }
            bootstrap = try BootstrapLoader.decode(text: text, isJSON: path.hasSuffix(".json") ? true : nil)
        }
        if let yaml {
            let overlay = try BootstrapLoader.decode(text: yaml)
            let bytes: [UInt8] = try overlay.serializedBytes()
            try bootstrap.merge(serializedBytes: bytes)
        }
        return bootstrap
    }
}

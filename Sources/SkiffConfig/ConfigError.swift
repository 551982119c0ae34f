/// An invalid or unsupported piece of configuration, named by resource and field path.
///
/// `path` reads like Envoy's: `static_resources.listeners[0].filter_chains[0].filters[0].typed_config`,
/// so a user can find the offending line; over xDS the same text becomes a NACK's `error_detail`.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String {
        path.isEmpty ? message : "\(path): \(message)"
    }
}

/// A field path under construction: `path / "listeners" / 0` → `listeners[0]`.
struct FieldPath: CustomStringConvertible {
    private(set) var text: String

    init(_ text: String = "") {
        self.text = text
    }

    static func / (lhs: FieldPath, field: String) -> FieldPath {
        FieldPath(lhs.text.isEmpty ? field : "\(lhs.text).\(field)")
    }

    static func / (lhs: FieldPath, index: Int) -> FieldPath {
        FieldPath("\(lhs.text)[\(index)]")
    }

    var description: String { text }

    func error(_ message: String) -> ConfigError {
        ConfigError(text, message)
    }
}

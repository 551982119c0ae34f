import Foundation
import SwiftProtobuf

/// Rejects fields Skiff does not implement yet, so nothing in a config is silently ignored.
///
/// A message is re-encoded as JSON with proto field names; every top-level key is a field that is
/// set (proto3 omits defaults), and any key outside the allowed list is an error naming its path.
enum SupportedFields {
    private static let options: JSONEncodingOptions = {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return options
    }()

    static func check(_ message: some SwiftProtobuf.Message, allowed: Set<String>, at path: FieldPath, hint: String? = nil) throws {
        let json = try message.jsonUTF8Data(options: options)
        guard let object = try JSONSerialization.jsonObject(with: json) as? [String: Any] else { return }
        for key in object.keys.sorted() where !allowed.contains(key) {
            throw (path / key).error("field is not supported by Skiff yet" + (hint.map { " (\($0))" } ?? ""))
        }
    }
}

/// Unpacks a `typed_config`, turning decode failures into a `ConfigError` at its path.
func unpack<M: SwiftProtobuf.Message>(_ type: M.Type, from any: Google_Protobuf_Any, at path: FieldPath) throws -> M {
    do {
        return try M(unpackingAny: any)
    } catch let error as JSONDecodingError {
        throw path.error("invalid \(M.protoMessageName): \(BootstrapLoader.describe(error))")
    } catch {
        throw path.error("invalid \(M.protoMessageName): \(error)")
    }
}

import Foundation
import Synchronization
import SwiftProtobuf

/// Rejects fields Skiff does not implement yet, so nothing in a config is silently ignored.
///
/// The slow, exact check re-encodes the message as JSON with proto field names: every top-level
/// key is a set field (proto3 omits defaults), and a key outside the allowed list is an error
/// naming its path. A control plane sends thousands of resources of the same shape, so the
/// numbers of the set fields (collected by a visitor, no encoding) are remembered per message
/// type once a shape passed: later messages of that shape skip the JSON round trip. That took
/// a 1,000-cluster × 10-endpoint EDS response from ~500 ms to a few ms of checking.
enum SupportedFields {
    private static let options: JSONEncodingOptions = {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return options
    }()

    /// Shapes already accepted: (message type, allowed list, set field numbers).
    private static let accepted = Mutex(Set<Shape>())
    private static let maxShapes = 10_000

    private struct Shape: Hashable {
        var type: ObjectIdentifier
        var allowed: Set<String>
        var fields: [Int]
    }

    static func check(_ message: some SwiftProtobuf.Message, allowed: Set<String>, at path: FieldPath, hint: String? = nil) throws {
        var collector = FieldNumberCollector()
        try message.traverse(visitor: &collector)
        let shape = Shape(type: ObjectIdentifier(type(of: message)), allowed: allowed, fields: collector.numbers.sorted())
        if accepted.withLock({ $0.contains(shape) }) {
            return
        }
        let json = try message.jsonUTF8Data(options: options)
        if let object = try JSONSerialization.jsonObject(with: json) as? [String: Any] {
            for key in object.keys.sorted() where !allowed.contains(key) {
                throw (path / key).error("field is not supported by Skiff yet" + (hint.map { " (\($0))" } ?? ""))
            }
        }
        guard !collector.sawUnknown else { return }
        accepted.withLock { shapes in
            if shapes.count < maxShapes { shapes.insert(shape) }
        }
    }
}

/// Records the numbers of a message's set fields without descending into them.
private struct FieldNumberCollector: SwiftProtobuf.Visitor {
    var numbers = Set<Int>()
    /// Unknown fields have no name to check against; such shapes always take the exact path.
    var sawUnknown = false

    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitRepeatedMessageField<M: SwiftProtobuf.Message>(value: [M], fieldNumber: Int) throws { numbers.insert(fieldNumber) }
    mutating func visitMapField<KeyType, ValueType: MapValueType>(
        fieldType: _ProtobufMap<KeyType, ValueType>.Type, value: _ProtobufMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws { numbers.insert(fieldNumber) }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufEnumMap<KeyType, ValueType>.Type, value: _ProtobufEnumMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws where ValueType.RawValue == Int { numbers.insert(fieldNumber) }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufMessageMap<KeyType, ValueType>.Type, value: _ProtobufMessageMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws { numbers.insert(fieldNumber) }
    mutating func visitUnknown(bytes: Data) throws { sawUnknown = true }
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

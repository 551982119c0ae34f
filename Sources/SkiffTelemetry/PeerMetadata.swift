import SkiffCore

/// Istio's `x-envoy-peer-metadata`: a base64 `google.protobuf.Struct` with the peer's `NAME`,
/// `NAMESPACE`, `WORKLOAD_NAME`, `CLUSTER_ID` and `LABELS`. Decoded by hand (a few dozen bytes of
/// protobuf) so the data path needs no protobuf runtime; anything malformed is ignored (nil).
public enum PeerMetadata {
    public static let header = "x-envoy-peer-metadata"
    public static let idHeader = "x-envoy-peer-metadata-id"
    /// Most bytes accepted: a peer cannot make a request cost more than this to decode.
    static let maxBytes = 8192

    /// This workload's metadata as the header value (computed once per worker).
    public static func encode(_ metadata: IstioMetadata) -> String {
        var labels: [UInt8] = []
        for (key, value) in [("app", metadata.app), ("version", metadata.version),
                             ("service.istio.io/canonical-name", metadata.canonicalService),
                             ("service.istio.io/canonical-revision", metadata.canonicalRevision)] where value != "unknown" {
            labels += entry(key, stringValue(value))
        }
        var fields: [UInt8] = []
        for (key, value) in [("NAMESPACE", metadata.namespace), ("WORKLOAD_NAME", metadata.workload), ("CLUSTER_ID", metadata.cluster)]
        where value != "unknown" {
            fields += entry(key, stringValue(value))
        }
        fields += entry("LABELS", lengthDelimited(5, labels))
        return base64Encode(fields)
    }

    /// `fields` map entry: `{ 1: key, 2: Value }`.
    static func entry(_ key: String, _ value: [UInt8]) -> [UInt8] {
        lengthDelimited(1, lengthDelimited(1, Array(key.utf8)) + lengthDelimited(2, value))
    }

    static func stringValue(_ text: String) -> [UInt8] { lengthDelimited(3, Array(text.utf8)) }

    static func lengthDelimited(_ field: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [field << 3 | 2]
        var length = payload.count
        repeat {
            let byte = UInt8(length & 0x7f)
            length >>= 7
            out.append(length > 0 ? byte | 0x80 : byte)
        } while length > 0
        return out + payload
    }

    static func base64Encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var n = UInt32(bytes[index]) << 16
            if count > 1 { n |= UInt32(bytes[index + 1]) << 8 }
            if count > 2 { n |= UInt32(bytes[index + 2]) }
            for position in 0..<4 {
                out.append(position <= count ? alphabet[Int((n >> (18 - 6 * UInt32(position))) & 63)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ header: String?) -> IstioMetadata? {
        guard let header, header.utf8.count <= maxBytes * 4 / 3 + 4, let bytes = base64(header) else { return nil }
        var fields: [String: String] = [:]
        var labels: [String: String] = [:]
        guard parseStruct(bytes[...], depth: 0, into: { key, value in
            switch value {
            case .string(let text): fields[key] = text
            case .nested(let nested) where key == "LABELS":
                _ = parseStruct(nested, depth: 1) { label, labelValue in
                    if case .string(let text) = labelValue { labels[label] = text }
                }
            default: break
            }
        }) else { return nil }
        guard !fields.isEmpty else { return nil }
        return IstioMetadata(fields: fields, labels: labels)
    }

    enum Value {
        case string(String)
        case nested(ArraySlice<UInt8>)
        case other
    }

    /// `Struct { map<string, Value> fields = 1; }`: calls `visit` per entry; false when malformed.
    static func parseStruct(_ bytes: ArraySlice<UInt8>, depth: Int, into visit: (String, Value) -> Void) -> Bool {
        var reader = Reader(bytes: bytes)
        while !reader.isAtEnd {
            guard let (field, wire) = reader.tag() else { return false }
            guard wire == 2, let entry = reader.lengthDelimited() else {
                guard reader.skip(wire) else { return false }
                continue
            }
            guard field == 1 else { continue }
            var entryReader = Reader(bytes: entry)
            var key = ""
            var value = Value.other
            while !entryReader.isAtEnd {
                guard let (entryField, entryWire) = entryReader.tag() else { return false }
                guard entryWire == 2, let payload = entryReader.lengthDelimited() else {
                    guard entryReader.skip(entryWire) else { return false }
                    continue
                }
                if entryField == 1 {
                    key = String(decoding: payload, as: UTF8.self)
                } else if entryField == 2 {
                    value = parseValue(payload)
                }
            }
            visit(key, value)
        }
        return true
    }

    /// `Value { string string_value = 3; Struct struct_value = 5; ... }`.
    static func parseValue(_ bytes: ArraySlice<UInt8>) -> Value {
        var reader = Reader(bytes: bytes)
        while !reader.isAtEnd {
            guard let (field, wire) = reader.tag() else { return .other }
            guard wire == 2, let payload = reader.lengthDelimited() else {
                guard reader.skip(wire) else { return .other }
                continue
            }
            if field == 3 { return .string(String(decoding: payload, as: UTF8.self)) }
            if field == 5 { return .nested(payload) }
        }
        return .other
    }

    struct Reader {
        var bytes: ArraySlice<UInt8>
        var isAtEnd: Bool { bytes.isEmpty }

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while let byte = bytes.popFirst() {
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }

        mutating func tag() -> (UInt64, UInt64)? {
            guard let key = varint() else { return nil }
            return (key >> 3, key & 7)
        }

        mutating func lengthDelimited() -> ArraySlice<UInt8>? {
            guard let length = varint(), length <= UInt64(bytes.count) else { return nil }
            let out = bytes.prefix(Int(length))
            bytes = bytes.dropFirst(Int(length))
            return out
        }

        mutating func skip(_ wire: UInt64) -> Bool {
            switch wire {
            case 0: return varint() != nil
            case 1: guard bytes.count >= 8 else { return false }; bytes = bytes.dropFirst(8); return true
            case 2: return lengthDelimited() != nil
            case 5: guard bytes.count >= 4 else { return false }; bytes = bytes.dropFirst(4); return true
            default: return false
            }
        }
    }

    /// Standard base64 (padding optional).
    static func base64(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for char in text.utf8 {
            let value: UInt8
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = char - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = char - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = char - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }
}

/// Istio's `destination_service*` labels.
public enum IstioServiceName {
    /// `outbound|80||reviews.default.svc.cluster.local` → (`reviews.default.svc.cluster.local`,
    /// `reviews`, `default`).
    public static func fromCluster(_ cluster: String?) -> (String, String, String)? {
        guard let cluster else { return nil }
        let parts = cluster.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, !parts[3].isEmpty else { return nil }
        return fromHost(String(parts[3]), namespace: "unknown")
    }

    /// A host (port dropped): a `<name>.<namespace>.svc...` name splits; another is its own name.
    public static func fromHost(_ authority: String, namespace: String) -> (String, String, String) {
        var host = authority
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") { host = String(host[..<colon]) }
        guard !host.isEmpty else { return ("unknown", "unknown", namespace) }
        let labels = host.split(separator: ".")
        if labels.count >= 3, labels[2] == "svc" {
            return (host, String(labels[0]), String(labels[1]))
        }
        return (host, String(labels.first ?? "unknown"), namespace)
    }
}

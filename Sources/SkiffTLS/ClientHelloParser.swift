/// Reads the server name (SNI) and ALPN list from a TLS ClientHello without consuming it
/// (`envoy.filters.listener.tls_inspector`). Pure, over the bytes received so far.
public enum ClientHelloParser {
    public enum Result: Equatable, Sendable {
        /// Could still be a ClientHello: read more.
        case needMore
        /// Not TLS (the first byte is not a handshake record): plaintext, `raw_buffer`.
        case notTLS
        /// A ClientHello: transport protocol `tls`, with what it names.
        case clientHello(serverName: String?, alpn: [String])
        /// TLS, but the hello is malformed or larger than the limit: `tls` with nothing known.
        case unreadable
    }

    /// The largest ClientHello read (Envoy buffers up to 64 KiB per connection here; real
    /// ClientHellos, post-quantum key shares included, stay far below 16 KiB).
    public static let maxHelloBytes = 16 * 1024

    public static func parse(_ bytes: some Collection<UInt8>) -> Result {
        let data = Array(bytes)
        guard let first = data.first else { return .needMore }
        guard first == 0x16 else { return .notTLS }
        // Reassemble the handshake message from one or more records.
        var handshake: [UInt8] = []
        var offset = 0
        while true {
            guard data.count >= offset + 5 else { return data.count > maxHelloBytes ? .unreadable : .needMore }
            guard data[offset] == 0x16, data[offset + 1] == 0x03 else { return offset == 0 ? .notTLS : .unreadable }
            let length = Int(data[offset + 3]) << 8 | Int(data[offset + 4])
            guard length > 0 else { return .unreadable }
            guard data.count >= offset + 5 + length else { return data.count > maxHelloBytes ? .unreadable : .needMore }
            handshake += data[(offset + 5)..<(offset + 5 + length)]
            offset += 5 + length
            if handshake.count >= 4 {
                guard handshake[0] == 0x01 else { return .unreadable }
                let helloLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                guard helloLength <= maxHelloBytes else { return .unreadable }
                if handshake.count >= 4 + helloLength {
                    return hello(Array(handshake[4..<(4 + helloLength)])) ?? .unreadable
                }
            }
            if offset > maxHelloBytes { return .unreadable }
        }
    }

    /// The ClientHello body: version, random, session id, ciphers, compression, extensions.
    static func hello(_ body: [UInt8]) -> Result? {
        var reader = Reader(bytes: body)
        guard reader.skip(2 + 32),
              let sessionLength = reader.u8(), reader.skip(Int(sessionLength)),
              let ciphersLength = reader.u16(), reader.skip(ciphersLength),
              let compressionLength = reader.u8(), reader.skip(Int(compressionLength))
        else { return nil }
        guard let extensionsLength = reader.u16() else { return .clientHello(serverName: nil, alpn: []) }
        guard var extensions = reader.take(extensionsLength).map({ Reader(bytes: $0) }) else { return nil }
        var serverName: String?
        var alpn: [String] = []
        while !extensions.isEmpty {
            guard let type = extensions.u16(), let length = extensions.u16(), let payload = extensions.take(length) else { return nil }
            var field = Reader(bytes: payload)
            switch type {
            case 0x0000:  // server_name
                guard let listLength = field.u16(), var list = field.take(listLength).map({ Reader(bytes: $0) }) else { return nil }
                while !list.isEmpty {
                    guard let nameType = list.u8(), let nameLength = list.u16(), let name = list.take(nameLength) else { return nil }
                    if nameType == 0, serverName == nil { serverName = String(decoding: name, as: UTF8.self).lowercased() }
                }
            case 0x0010:  // application_layer_protocol_negotiation
                guard let listLength = field.u16(), var list = field.take(listLength).map({ Reader(bytes: $0) }) else { return nil }
                while !list.isEmpty {
                    guard let protocolLength = list.u8(), let name = list.take(Int(protocolLength)) else { return nil }
                    alpn.append(String(decoding: name, as: UTF8.self))
                }
            default:
                break
            }
        }
        return .clientHello(serverName: serverName, alpn: alpn)
    }

    struct Reader {
        var bytes: [UInt8]
        var index = 0

        var isEmpty: Bool { index >= bytes.count }

        mutating func u8() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func u16() -> Int? {
            guard index + 2 <= bytes.count else { return nil }
            defer { index += 2 }
            return Int(bytes[index]) << 8 | Int(bytes[index + 1])
        }

        mutating func skip(_ count: Int) -> Bool {
            guard index + count <= bytes.count else { return false }
            index += count
            return true
        }

        mutating func take(_ count: Int) -> [UInt8]? {
            guard index + count <= bytes.count else { return nil }
            defer { index += count }
            return Array(bytes[index..<(index + count)])
        }
    }
}

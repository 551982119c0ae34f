import NIOCore
import NIOHTTP1

/// gRPC over HTTP: recognising gRPC requests and encoding `grpc-message`.
enum GRPCMessage {
    /// A gRPC request: `content-type` is `application/grpc` or `application/grpc+<codec>`.
    static func isGRPC(_ headers: HTTPHeaders) -> Bool {
        guard let type = headers.first(name: "content-type") else { return false }
        return type.utf8.starts(with: "application/grpc".utf8)
    }

    /// The gRPC spec's percent-encoding: bytes outside printable ASCII, and `%`, become `%XX`.
    static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `grpc-timeout` (`<1-8 digits><H|M|S|m|u|n>`), nil when absent or malformed.
    static func timeout(_ headers: HTTPHeaders) -> TimeAmount? {
        guard let text = headers.first(name: "grpc-timeout"), let unit = text.utf8.last else { return nil }
        let digits = text.utf8.dropLast()
        guard !digits.isEmpty, digits.count <= 8, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int64(String(decoding: digits, as: UTF8.self))
        else { return nil }
        let nanosPerUnit: Int64
        switch unit {
        case UInt8(ascii: "H"): nanosPerUnit = 3_600_000_000_000
        case UInt8(ascii: "M"): nanosPerUnit = 60_000_000_000
        case UInt8(ascii: "S"): nanosPerUnit = 1_000_000_000
        case UInt8(ascii: "m"): nanosPerUnit = 1_000_000
        case UInt8(ascii: "u"): nanosPerUnit = 1_000
        case UInt8(ascii: "n"): nanosPerUnit = 1
        default: return nil
        }
        return .nanoseconds(value * nanosPerUnit)
    }

    /// Splits a Trailers-Only gRPC response's headers: what belongs in the first HEADERS frame
    /// (content type, date, server, Envoy's service time) and the rest — `grpc-status`,
    /// `grpc-message` and the trailing metadata — for the trailers.
    static func splitTrailersOnly(_ headers: HTTPHeaders) -> (headers: HTTPHeaders, trailers: HTTPHeaders) {
        var leading = HTTPHeaders()
        var trailing = HTTPHeaders()
        for (name, value) in headers {
            switch name.lowercased() {
            case "content-type", "date", "server", "x-envoy-upstream-service-time": leading.add(name: name, value: value)
            case "content-length": break
            default: trailing.add(name: name, value: value)
            }
        }
        return (leading, trailing)
    }
}

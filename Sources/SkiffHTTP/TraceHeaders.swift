import NIOHTTP1

/// The request headers the tracer reads, found in one pass over the request's headers (four
/// `first(name:)` lookups would each walk them: measured ~700 instructions per request).
struct TraceHeaders {
    var requestID: String?
    var clientTraceID = false
    var traceparent: String?
    var tracestate: String?

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            let utf8 = name.utf8
            switch utf8.count {
            case 10 where Self.equalsLowercase(utf8, "tracestate"):
                if tracestate == nil { tracestate = value }
            case 11 where Self.equalsLowercase(utf8, "traceparent"):
                if traceparent == nil { traceparent = value }
            case 12 where Self.equalsLowercase(utf8, "x-request-id"):
                if requestID == nil { requestID = value }
            case 17 where Self.equalsLowercase(utf8, "x-client-trace-id"):
                clientTraceID = true
            default:
                continue
            }
        }
    }

    /// Whether `name` is `lowercase` ignoring ASCII case (same length checked by the caller).
    static func equalsLowercase(_ name: String.UTF8View, _ lowercase: StaticString) -> Bool {
        var index = 0
        let expected = lowercase.utf8Start
        for byte in name {
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            if folded != expected[index] { return false }
            index += 1
        }
        return index == lowercase.utf8CodeUnitCount
    }
}

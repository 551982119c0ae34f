/// A trace context as it travels in headers: W3C `traceparent` / `tracestate`, or B3 (the
/// `x-b3-*` headers or the single `b3` header).
///
/// Parsing is strict where the specs are (W3C: version `00`, lowercase hex, no all-zero ids), so a
/// malformed header starts a new trace instead of corrupting one.
public struct TraceContext: Sendable, Equatable {
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    /// The sender's span: the parent of the span this proxy creates.
    public var spanID: UInt64
    /// The sender's sampling decision, when it made one.
    public var sampled: Bool?
    /// W3C `tracestate`, forwarded untouched.
    public var traceState: String?
    /// B3's parent of the sender's span (`x-b3-parentspanid`), 0 when absent.
    public var parentSpanID: UInt64 = 0

    public init(traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, sampled: Bool?, traceState: String? = nil) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.sampled = sampled
        self.traceState = traceState
    }

    public var traceIDHex: String {
        Hex.string(traceIDHigh) + Hex.string(traceIDLow)
    }

    /// `traceparent` for a child whose span is `spanID` (written in place: one allocation).
    public func traceparent(spanID: UInt64, sampled: Bool) -> String {
        String(unsafeUninitializedCapacity: 55) { out in
            out[0] = UInt8(ascii: "0")
            out[1] = UInt8(ascii: "0")
            out[2] = UInt8(ascii: "-")
            Hex.write(traceIDHigh, into: out, at: 3)
            Hex.write(traceIDLow, into: out, at: 19)
            out[35] = UInt8(ascii: "-")
            Hex.write(spanID, into: out, at: 36)
            out[52] = UInt8(ascii: "-")
            out[53] = UInt8(ascii: "0")
            out[54] = sampled ? UInt8(ascii: "1") : UInt8(ascii: "0")
            return 55
        }
    }

    /// W3C Trace Context: `00-<32 hex>-<16 hex>-<2 hex>`.
    public static func parseTraceparent(_ value: String, traceState: String? = nil) -> TraceContext? {
        let bytes = Array(value.utf8)
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else {
            return nil
        }
        guard let version = Hex.parse(bytes[0..<2]), version != 0xff else { return nil }
        // Version 00 is exactly 55 characters; later versions may append fields after a dash.
        if version == 0, bytes.count != 55 { return nil }
        if version != 0, bytes.count > 55, bytes[55] != UInt8(ascii: "-") { return nil }
        guard let high = Hex.parse(bytes[3..<19]), let low = Hex.parse(bytes[19..<35]), let span = Hex.parse(bytes[36..<52]),
              let flags = Hex.parse(bytes[53..<55]), high | low != 0, span != 0 else { return nil }
        return TraceContext(traceIDHigh: high, traceIDLow: low, spanID: span, sampled: flags & 1 == 1, traceState: traceState)
    }

    /// B3 multi-header form (`x-b3-traceid` 16 or 32 hex, `x-b3-spanid`, `x-b3-sampled`,
    /// `x-b3-flags: 1` for debug).
    public static func parseB3(traceID: String, spanID: String, sampled: String?, flags: String?, parentSpanID: String? = nil) -> TraceContext? {
        guard let (high, low) = parseTraceID(traceID), let span = Hex.parseWhole(spanID), span != 0 else { return nil }
        var decision: Bool?
        if flags == "1" {
            decision = true
        } else if let sampled {
            decision = sampled == "1" || sampled == "true" ? true : (sampled == "0" || sampled == "false" ? false : nil)
        }
        var context = TraceContext(traceIDHigh: high, traceIDLow: low, spanID: span, sampled: decision)
        if let parentSpanID {
            guard let parent = Hex.parseWhole(parentSpanID) else { return nil }
            context.parentSpanID = parent
        }
        return context
    }

    /// Single-header B3: `{trace}-{span}[-{sampling}[-{parent}]]`, or a lone `0` / `1` / `d`.
    public static func parseB3Single(_ value: String) -> (context: TraceContext?, sampled: Bool?) {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 {
            switch parts[0] {
            case "0": return (nil, false)
            case "1", "d": return (nil, true)
            default: return (nil, nil)
            }
        }
        guard parts.count >= 2 else { return (nil, nil) }
        let sampling = parts.count >= 3 ? parts[2] : nil
        let context = parseB3(
            traceID: parts[0], spanID: parts[1], sampled: sampling == "d" ? nil : sampling, flags: sampling == "d" ? "1" : nil,
            parentSpanID: parts.count >= 4 ? parts[3] : nil
        )
        return (context, context?.sampled)
    }

    static func parseTraceID(_ text: String) -> (UInt64, UInt64)? {
        let bytes = Array(text.utf8)
        switch bytes.count {
        case 16:
            guard let low = Hex.parse(bytes[0..<16]), low != 0 else { return nil }
            return (0, low)
        case 32:
            guard let high = Hex.parse(bytes[0..<16]), let low = Hex.parse(bytes[16..<32]), high | low != 0 else { return nil }
            return (high, low)
        default:
            return nil
        }
    }
}

/// Lowercase hexadecimal without Foundation: ids are printed and parsed per traced request.
public enum Hex {
    /// Sixteen lowercase hex digits.
    public static func string(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            write(value, into: buffer, at: 0)
            return 16
        }
    }

    static func write(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        for index in 0..<16 {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * index)) & 0xf
            buffer[offset + index] = nibble < 10 ? nibble &+ UInt8(ascii: "0") : nibble &+ (UInt8(ascii: "a") - 10)
        }
    }

    /// Lowercase hex only (W3C forbids uppercase); at most 16 digits.
    static func parse(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    static func parseWhole(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16 else { return nil }
        return parse(bytes[...])
    }
}

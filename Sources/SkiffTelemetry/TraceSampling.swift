import SkiffCore

/// Envoy's tracing decision for a request, as the connection manager makes it.
///
/// The decision is stable per request id: the first eight hex digits of `x-request-id`, modulo
/// 10 000, are compared against the sampling percentages, so every proxy on a request's path
/// decides alike. The reason is written into the id itself (its 15th character, the UUID
/// version nibble: `9` sampled, `b` forced by `x-client-trace-id`, `4` not traced), which is how
/// a downstream Envoy's decision travels. A request id that is not a UUID is never traced, and
/// `x-envoy-force-trace` from outside is ignored, as Envoy 1.40 does.
public enum TraceSampling {
    public enum Reason: Sendable, Equatable {
        case notTraceable
        case sampling
        case serviceForced
        case clientForced
        /// No tracing decision recorded in the id (`4`, or a request id that is not a UUID).
        case noTrace

        public var traced: Bool {
            switch self {
            case .sampling, .serviceForced, .clientForced: return true
            case .notTraceable, .noTrace: return false
            }
        }

        var nibble: UInt8? {
            switch self {
            case .sampling: return UInt8(ascii: "9")
            case .serviceForced: return UInt8(ascii: "a")
            case .clientForced: return UInt8(ascii: "b")
            case .notTraceable: return UInt8(ascii: "4")
            case .noTrace: return nil
            }
        }
    }

    /// The decision and the request id as it goes upstream (rewritten when the id is a UUID).
    /// Reads the id in place: the only allocation is the rewritten id, when the decision
    /// changes its nibble.
    public static func decide(requestID: String, config: TracingConfig, clientTraceID: Bool) -> (reason: Reason, requestID: String) {
        let utf8 = requestID.utf8
        guard utf8.count == 36 else { return (.noTrace, requestID) }
        let read = utf8.withContiguousStorageIfAvailable { uuidFacts($0) } ?? Array(utf8).withUnsafeBufferPointer { uuidFacts($0) }
        guard let (value, currentNibble) = read else {
            // Not a UUID: nothing to read a stable decision from, nothing to record it in.
            return (.noTrace, requestID)
        }
        let sample = value % 10_000
        var reason = current(currentNibble)
        if reason == .noTrace {
            if clientTraceID, enabled(config.clientSampling, sample) {
                reason = .clientForced
            } else if enabled(config.randomSampling, sample) {
                reason = .sampling
            }
        }
        if !enabled(config.overallSampling, sample) {
            reason = .notTraceable
        }
        guard let nibble = reason.nibble, reason != .noTrace, currentNibble != nibble else { return (reason, requestID) }
        let stamped = String(unsafeUninitializedCapacity: 36) { out in
            for (index, byte) in utf8.enumerated() { out[index] = index == 14 ? nibble : byte }
            return 36
        }
        return (reason, stamped)
    }

    /// A 36-byte UUID's first eight hex digits (either case: request ids are not W3C-strict) and
    /// its version nibble; nil when it is not a UUID.
    static func uuidFacts(_ id: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt8)? {
        let dash = UInt8(ascii: "-")
        guard id[8] == dash, id[13] == dash, id[18] == dash, id[23] == dash else { return nil }
        var value: UInt64 = 0
        for index in 0..<8 {
            let byte = id[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return (value, id[14])
    }

    /// Envoy's `featureEnabled` on a percentage: the sample (0..<10 000) below percent × 100.
    static func enabled(_ percent: Double, _ sample: UInt64) -> Bool {
        sample < UInt64((percent * 100).rounded())
    }

    static func current(_ nibble: UInt8) -> Reason {
        switch nibble {
        case UInt8(ascii: "9"): return .sampling
        case UInt8(ascii: "a"): return .serviceForced
        case UInt8(ascii: "b"): return .clientForced
        default: return .noTrace
        }
    }
}

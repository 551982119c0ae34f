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
    public static func decide(requestID: String, config: TracingConfig, clientTraceID: Bool) -> (reason: Reason, requestID: String) {
        let utf8 = requestID.utf8
        guard utf8.count == 36 else { return (.noTrace, requestID) }
        let id = Array(utf8)
        let isUUID = id[8] == UInt8(ascii: "-") && id[13] == UInt8(ascii: "-") && id[18] == UInt8(ascii: "-") && id[23] == UInt8(ascii: "-")
        guard isUUID, let value = Hex.parseAnyCase(id[0..<8]) else {
            // Not a UUID: nothing to read a stable decision from, nothing to record it in.
            return (.noTrace, requestID)
        }
        let sample = value % 10_000
        var reason = current(id[14])
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
        guard let nibble = reason.nibble, reason != .noTrace, id[14] != nibble else { return (reason, requestID) }
        var stamped = id
        stamped[14] = nibble
        return (reason, String(decoding: stamped, as: UTF8.self))
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

extension Hex {
    /// Hex digits in either case (request ids are not W3C-strict).
    static func parseAnyCase(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        parse(ArraySlice(bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") ? $0 + 32 : $0 }))
    }
}

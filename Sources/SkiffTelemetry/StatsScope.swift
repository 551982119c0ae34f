import SkiffCore

/// One scope of Envoy-named statistics (`cluster.<name>.`, `http.<prefix>.`, ...) on one worker.
///
/// A scope belongs to exactly one event loop: the data path bumps plain integers with no lock,
/// atomic or shared cache line. Readers (the admin server) ask each worker for a `StatSample` list
/// on the worker's own loop and merge them, so a request pays for an increment and nothing else.
public final class StatsScope {
    public let family: StatFamily
    public let name: String
    @usableFromInline var counters: [UInt64]
    @usableFromInline var gauges: [Int64]
    /// Per-status-code counters (`upstream_rq_200`), keyed by code; bounded by the 100...599 range.
    @usableFromInline var codes: [Int: UInt64] = [:]
    @usableFromInline var histograms: [HistogramCells]
    /// Optional groups (`ssl.*`, `rbac.*`) are listed only once the configuration uses them, as
    /// Envoy creates those stats only with TLS or an RBAC filter.
    private var shownGroups: Set<String> = []

    public init(family: StatFamily, name: String, config: StatsConfig = StatsConfig()) {
        self.family = family
        self.name = name
        self.counters = Array(repeating: 0, count: family.counterNames.count)
        self.gauges = Array(repeating: 0, count: family.gaugeNames.count)
        self.histograms = family.histogramNames.map { suffix in
            HistogramCells(bounds: config.buckets(for: StatSample.envoyName(family: family, scope: name, suffix: suffix)))
        }
    }

    @inlinable
    public func increment(_ counter: StatCounter, by amount: UInt64 = 1) {
        counters[counter.slot] &+= amount
    }

    @inlinable
    public func adjust(_ gauge: StatGauge, by delta: Int64) {
        gauges[gauge.slot] &+= delta
    }

    /// Records a histogram value (milliseconds for Envoy's timing histograms).
    @inlinable
    public func record(_ histogram: StatHistogram, _ value: UInt64) {
        histograms[histogram.slot].record(value)
    }

    /// Records a duration in whole milliseconds, truncated as Envoy does.
    @inlinable
    public func record(_ histogram: StatHistogram, nanoseconds: Int64) {
        histograms[histogram.slot].record(UInt64(Swift.max(nanoseconds, 0) / 1_000_000))
    }

    /// Counts one response: the `<base>_<code>` and `<base>_<class>xx` counters.
    @inlinable
    public func recordResponse(code: Int) {
        let clamped = min(max(code, 100), 599)
        codes[clamped, default: 0] &+= 1
    }

    public func value(_ counter: StatCounter) -> UInt64 { counters[counter.slot] }

    /// Lists an optional group's counters (`"ssl"`, `"rbac"`) even while they are zero.
    public func show(_ group: String) {
        shownGroups.insert(group)
    }
    public func value(_ gauge: StatGauge) -> Int64 { gauges[gauge.slot] }

    /// The scope's values as samples, for merging across workers.
    public func samples() -> [StatSample] {
        var out: [StatSample] = []
        out.reserveCapacity(counters.count + gauges.count + codes.count * 2)
        for (slot, suffix) in family.counterNames.enumerated() {
            if let group = StatFamily.optionalGroup(suffix), !shownGroups.contains(group), counters[slot] == 0 { continue }
            out.append(StatSample(family: family, scope: name, suffix: suffix, kind: .counter, value: Int64(bitPattern: counters[slot])))
        }
        for (slot, suffix) in family.gaugeNames.enumerated() {
            if let group = StatFamily.optionalGroup(suffix), !shownGroups.contains(group), gauges[slot] == 0 { continue }
            out.append(StatSample(family: family, scope: name, suffix: suffix, kind: .gauge, value: gauges[slot]))
        }
        for (slot, suffix) in family.histogramNames.enumerated() {
            if StatFamily.isLazyHistogram(family, suffix), histograms[slot].count == 0 { continue }
            var sample = StatSample(family: family, scope: name, suffix: suffix, kind: .histogram, value: 0)
            sample.histogram = histograms[slot].value
            out.append(sample)
        }
        if let base = family.responseCodeBase {
            // As Envoy: the connection manager counts classes only, all five always; a cluster
            // creates `upstream_rq_<code>` and `upstream_rq_<class>xx` when first seen.
            let perCode = family == .cluster
            var classes = [UInt64](repeating: 0, count: 6)
            for (code, count) in codes {
                classes[code / 100] &+= count
                if perCode {
                    out.append(StatSample(family: family, scope: name, suffix: "\(base)_\(code)", kind: .counter, value: Int64(count)))
                }
            }
            for cls in 1...5 where !perCode || classes[cls] > 0 {
                out.append(StatSample(family: family, scope: name, suffix: "\(base)_\(cls)xx", kind: .counter, value: Int64(classes[cls])))
            }
        }
        return out
    }
}

@available(*, unavailable)
extension StatsScope: Sendable {}

/// A counter in a family, by slot.
public struct StatCounter: Sendable {
    public let slot: Int
    @inlinable init(_ slot: Int) { self.slot = slot }
}

/// A gauge in a family, by slot.
public struct StatGauge: Sendable {
    public let slot: Int
    @inlinable init(_ slot: Int) { self.slot = slot }
}

/// One value read from a scope.
public struct StatSample: Sendable, Equatable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    public var family: StatFamily
    public var scope: String
    public var suffix: String
    public var kind: Kind
    public var value: Int64
    /// Set for `.histogram` samples.
    public var histogram: HistogramValue?
    /// Labels the stat carries itself (Istio's metrics); empty for Envoy's stats, whose labels
    /// come from tag extraction.
    public var labels: [StatLabel] = []

    public init(family: StatFamily, scope: String, suffix: String, kind: Kind, value: Int64) {
        self.family = family
        self.scope = scope
        self.suffix = suffix
        self.kind = kind
        self.value = value
    }

    /// The Envoy dotted name: `cluster.backend.upstream_rq_total`.
    public var envoyName: String {
        if family == .istio {
            return suffix + "{" + labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",") + "}"
        }
        return Self.envoyName(family: family, scope: scope, suffix: suffix)
    }

    public static func envoyName(family: StatFamily, scope: String, suffix: String) -> String {
        let scope = sanitized(scope)
        switch family {
        case .localRateLimit, .networkRBAC: return "\(scope).\(family.rawValue).\(suffix)"
        case .listenerHTTP, .listenerWorker: return "listener.\(scope).\(suffix)"
        default: return scope.isEmpty ? "\(family.rawValue).\(suffix)" : "\(family.rawValue).\(scope).\(suffix)"
        }
    }

    /// What Envoy does to a name built from configuration (an IPv6 listener address, a cluster
    /// named with a colon): `://`, `:/`, `:` and NUL become `_`, so `[::1]_15001` is
    /// `[__1]_15001` — which its tag regexes then recognise as a listener address.
    static func sanitized(_ scope: String) -> String {
        guard scope.utf8.contains(where: { $0 == UInt8(ascii: ":") || $0 == 0 }) else { return scope }
        var out: [UInt8] = []
        out.reserveCapacity(scope.utf8.count)
        let bytes = Array(scope.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ":") {
                out.append(UInt8(ascii: "_"))
                // `://` and `:/` collapse into the one underscore.
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                    index += index + 2 < bytes.count && bytes[index + 2] == UInt8(ascii: "/") ? 3 : 2
                    continue
                }
            } else {
                out.append(byte == 0 ? UInt8(ascii: "_") : byte)
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

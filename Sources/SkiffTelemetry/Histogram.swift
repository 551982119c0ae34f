/// A histogram in a family, by slot.
public struct StatHistogram: Sendable {
    public let slot: Int
    @inlinable init(_ slot: Int) { self.slot = slot }
}

/// One worker's cells of one histogram: a count per bucket (Prometheus semantics: a value lands in
/// the first bucket whose bound is ≥ it; the last cell is +Inf), the sum, count, min and max.
///
/// Recording is a short scan over at most a few dozen bounds and five integer updates, on the
/// worker's own loop: no lock, no allocation.
@usableFromInline
struct HistogramCells {
    @usableFromInline let bounds: [Double]
    @usableFromInline var counts: [UInt64]
    @usableFromInline var sum: UInt64 = 0
    @usableFromInline var count: UInt64 = 0
    @usableFromInline var min: UInt64 = .max
    @usableFromInline var max: UInt64 = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        self.counts = Array(repeating: 0, count: bounds.count + 1)
    }

    @inlinable
    mutating func record(_ value: UInt64) {
        let asDouble = Double(value)
        var bucket = 0
        while bucket < bounds.count, bounds[bucket] < asDouble { bucket += 1 }
        counts[bucket] &+= 1
        sum &+= value
        count &+= 1
        if value < min { min = value }
        if value > max { max = value }
    }

    var value: HistogramValue {
        HistogramValue(bounds: bounds, counts: counts, sum: Double(sum), count: count, min: count == 0 ? 0 : Double(min), max: Double(max))
    }
}

/// A histogram's values, mergeable across workers.
public struct HistogramValue: Sendable, Equatable {
    public var bounds: [Double]
    /// Per-bucket (not cumulative) counts; one more than `bounds`, the last for values above all.
    public var counts: [UInt64]
    public var sum: Double
    public var count: UInt64
    public var min: Double
    public var max: Double

    public init(bounds: [Double], counts: [UInt64], sum: Double, count: UInt64, min: Double, max: Double) {
        self.bounds = bounds
        self.counts = counts
        self.sum = sum
        self.count = count
        self.min = min
        self.max = max
    }

    /// No values yet.
    public init(bounds: [Double]) {
        self.init(bounds: bounds, counts: Array(repeating: 0, count: bounds.count + 1), sum: 0, count: 0, min: 0, max: 0)
    }

    /// Records one value (off the data path: the admin port's own stats, one-off process stats;
    /// workers record into their `HistogramCells`).
    public mutating func record(_ value: UInt64) {
        let asDouble = Double(value)
        let bucket = bounds.firstIndex { asDouble <= $0 } ?? bounds.count
        counts[bucket] &+= 1
        sum += asDouble
        min = count == 0 ? asDouble : Swift.min(min, asDouble)
        max = count == 0 ? asDouble : Swift.max(max, asDouble)
        count &+= 1
    }

    /// Adds another worker's values (same bounds: both come from the same configuration).
    mutating func merge(_ other: HistogramValue) {
        guard other.count > 0 else { return }
        if count == 0 {
            self = other
            return
        }
        for index in counts.indices where index < other.counts.count {
            counts[index] &+= other.counts[index]
        }
        sum += other.sum
        count &+= other.count
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// Running totals per bound, as Prometheus `_bucket{le=...}` lines want them.
    public var cumulative: [UInt64] {
        var total: UInt64 = 0
        return counts.map { total &+= $0; return total }
    }

    /// Envoy's quantiles for `/stats`: 0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100 percent.
    public static let supportedQuantiles: [Double] = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]

    /// The value below which `percent` of samples fall, interpolated linearly inside its bucket
    /// and clamped to the recorded min and max (so P0 and P100 are exact). Nil with no samples.
    public func quantile(_ percent: Double) -> Double? {
        guard count > 0 else { return nil }
        if percent <= 0 { return min }
        if percent >= 100 { return max }
        let rank = Double(count) * percent / 100
        var seen: Double = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            let upTo = seen + Double(bucketCount)
            if upTo >= rank {
                let lower = index == 0 ? 0 : bounds[index - 1]
                let upper = index < bounds.count ? bounds[index] : max
                let estimate = lower + (upper - lower) * (rank - seen) / Double(bucketCount)
                return Swift.min(Swift.max(estimate, min), max)
            }
            seen = upTo
        }
        return max
    }
}

/// Envoy's number formatting in stats output: integers without a fraction, others shortest.
public func statNumber(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
}

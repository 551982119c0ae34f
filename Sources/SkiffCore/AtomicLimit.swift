import Synchronization

extension Atomic where Value == Int {
    /// Adds one if the value is below `limit` (compare-and-swap loop, no lock); false at the limit.
    /// Circuit breakers and `max_active_faults` take their slots this way.
    public func incrementIfBelow(_ limit: Int) -> Bool {
        var current = load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}

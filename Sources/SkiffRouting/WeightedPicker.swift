import SkiffCore

/// Picks a cluster from a `ClusterTarget` given a random number, as Envoy's weighted clusters do:
/// `random % total_weight` lands in one entry's cumulative range; entries of weight 0 are never
/// picked.
public enum WeightedPicker {
    public static func pick(_ target: ClusterTarget, random: UInt64) -> String {
        switch target {
        case .single(let name):
            return name
        case .weighted(let entries, let total):
            var point = random % UInt64(max(total, 1))
            for entry in entries {
                let weight = UInt64(entry.weight)
                if point < weight {
                    return entry.name
                }
                point -= weight
            }
            // Unreachable while total == sum of weights; fall back to the last non-zero entry.
            return entries.last { $0.weight > 0 }?.name ?? entries[0].name
        }
    }
}

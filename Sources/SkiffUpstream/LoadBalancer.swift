import SkiffCore

/// The load-balancing decision for one cluster on one worker (`Cluster.lb_policy`).
///
/// A value type over host weights and in-flight counts, so every policy is tested without sockets:
/// - ROUND_ROBIN: plain rotation when all weights are equal, otherwise smooth weighted round robin
///   (each pick raises every host by its weight and lowers the winner by the total), which spreads
///   a weighted host's turns evenly instead of in bursts.
/// - LEAST_REQUEST: power of `choice_count` (default 2) random choices, fewest in flight wins;
///   with unequal weights the choices are drawn by weight.
/// - RANDOM: a draw proportional to weight.
public struct LoadBalancer: Sendable {
    public let policy: ClusterConfig.LoadBalancerPolicy
    private var cursor: Int
    private var smoothCurrent: [Int] = []

    public init(policy: ClusterConfig.LoadBalancerPolicy, seed: UInt64 = 0) {
        self.policy = policy
        self.cursor = Int(truncatingIfNeeded: seed & 0xFFFF)
    }

    /// Forget per-host state after the host set changed.
    public mutating func reset() {
        smoothCurrent = []
    }

    /// The index of the chosen host, or nil when there are none.
    public mutating func pick(weights: [Int], active: (Int) -> Int, random: inout FastRandom) -> Int? {
        let count = weights.count
        guard count > 0 else { return nil }
        if count == 1 { return 0 }
        let uniform = weights.allSatisfy { $0 == weights[0] }
        switch policy {
        case .roundRobin:
            if uniform {
                cursor = (cursor &+ 1) % count
                return cursor
            }
            return pickSmoothWeighted(weights)
        case .random:
            return uniform ? Int(random.next() % UInt64(count)) : pickByWeight(weights, &random)
        case .leastRequest(let choices):
            var best = uniform ? Int(random.next() % UInt64(count)) : pickByWeight(weights, &random)
            for _ in 1..<max(choices, 2) {
                let candidate = uniform ? Int(random.next() % UInt64(count)) : pickByWeight(weights, &random)
                if active(candidate) < active(best) {
                    best = candidate
                }
            }
            return best
        }
    }

    private mutating func pickSmoothWeighted(_ weights: [Int]) -> Int {
        if smoothCurrent.count != weights.count {
            smoothCurrent = Array(repeating: 0, count: weights.count)
        }
        var total = 0
        var best = 0
        for index in weights.indices {
            smoothCurrent[index] += weights[index]
            total += weights[index]
            if smoothCurrent[index] > smoothCurrent[best] {
                best = index
            }
        }
        smoothCurrent[best] -= total
        return best
    }

    private func pickByWeight(_ weights: [Int], _ random: inout FastRandom) -> Int {
        let total = weights.reduce(0, +)
        guard total > 0 else { return Int(random.next() % UInt64(weights.count)) }
        var point = Int(random.next() % UInt64(total))
        for (index, weight) in weights.enumerated() {
            if point < weight { return index }
            point -= weight
        }
        return weights.count - 1
    }
}

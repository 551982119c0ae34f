import SkiffCore
import SkiffUpstream
import Testing

struct LoadBalancerTests {
    @Test func roundRobinVisitsEveryHostInTurn() {
        var lb = LoadBalancer(policy: .roundRobin)
        var random = FastRandom(seed: 1)
        let picks = (0..<6).map { _ in lb.pick(weights: [1, 1, 1], active: { _ in 0 }, random: &random)! }
        #expect(Set(picks) == [0, 1, 2])
        #expect(picks[0] != picks[1] && picks[1] != picks[2])
        #expect(Array(picks[0..<3]) == Array(picks[3..<6]))
    }

    @Test func smoothWeightedRoundRobinIsProportionalAndSpread() {
        var lb = LoadBalancer(policy: .roundRobin)
        var random = FastRandom(seed: 1)
        let picks = (0..<7).map { _ in lb.pick(weights: [5, 1, 1], active: { _ in 0 }, random: &random)! }
        #expect(picks.filter { $0 == 0 }.count == 5)
        #expect(picks.filter { $0 == 1 }.count == 1)
        #expect(picks.filter { $0 == 2 }.count == 1)
        // Smooth: the heavy host never takes more than 3 turns in a row out of 7.
        #expect(picks != [0, 0, 0, 0, 0, 1, 2])
    }

    @Test func leastRequestPrefersTheLessLoadedOfTwoChoices() {
        var lb = LoadBalancer(policy: .leastRequest(choiceCount: 2))
        var random = FastRandom(seed: 7)
        let active = [100, 0]
        var counts = [0, 0]
        for _ in 0..<1000 {
            counts[lb.pick(weights: [1, 1], active: { active[$0] }, random: &random)!] += 1
        }
        // Host 0 wins only when both choices land on it (p = 1/4).
        #expect(counts[1] > 650)
        #expect(counts[0] > 150)
    }

    @Test func randomFollowsWeights() {
        var lb = LoadBalancer(policy: .random)
        var random = FastRandom(seed: 3)
        var counts = [0, 0]
        for _ in 0..<10_000 {
            counts[lb.pick(weights: [3, 1], active: { _ in 0 }, random: &random)!] += 1
        }
        #expect(abs(counts[0] - 7500) < 300)
    }

    @Test func noHostsNoPick() {
        var lb = LoadBalancer(policy: .roundRobin)
        var random = FastRandom(seed: 3)
        #expect(lb.pick(weights: [], active: { _ in 0 }, random: &random) == nil)
    }

    /// Envoy's numbers: 1 healthy and 1 degraded of 3 counted hosts (a DRAINING one is not
    /// counted) → 46 % each before scaling, so traffic splits evenly; all healthy → no
    /// degraded traffic; too few usable → panic.
    @Test func hostSetLoadFollowsEnvoysOverprovisioningFactor() {
        #expect(HostSetLoad.compute(healthy: 1, degraded: 1, total: 3, panicThreshold: 50) == .split(healthy: 46, degraded: 46))
        #expect(HostSetLoad.compute(healthy: 4, degraded: 0, total: 4, panicThreshold: 50) == .split(healthy: 100, degraded: 0))
        #expect(HostSetLoad.compute(healthy: 3, degraded: 1, total: 4, panicThreshold: 50) == .split(healthy: 100, degraded: 0))
        #expect(HostSetLoad.compute(healthy: 2, degraded: 2, total: 4, panicThreshold: 50) == .split(healthy: 70, degraded: 30))
        #expect(HostSetLoad.compute(healthy: 1, degraded: 0, total: 4, panicThreshold: 50) == .panic)
        #expect(HostSetLoad.compute(healthy: 0, degraded: 0, total: 0, panicThreshold: 0) == .panic)
    }
}

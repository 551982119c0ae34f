import SkiffCore
import Synchronization

/// A cluster's circuit-breaker counters, shared by every worker (Envoy's resource manager).
///
/// Limits are per cluster, not per worker, so the counts are atomics: one uncontended
/// compare-and-swap per request or connection, no lock. Retries hold a slot from the moment they
/// are scheduled, through the back-off, until the retried attempt ends (Envoy frees it earlier:
/// issue 30205).
public final class ClusterResources: Sendable {
    public enum Kind: Int, CaseIterable, Sendable {
        case connections, pendingRequests, requests, retries
        /// Hosts ejected by outlier detection (bounded by `max_ejection_percent`).
        case ejectedHosts
    }

    private let connections = Atomic<Int>(0)
    private let pendingRequests = Atomic<Int>(0)
    private let requests = Atomic<Int>(0)
    private let retries = Atomic<Int>(0)
    private let ejectedHosts = Atomic<Int>(0)
    private let connected = Atomic<Bool>(false)

    public init() {}

    /// Whether the cluster ever opened an upstream connection (Envoy's "has had traffic", which
    /// switches health checking from `no_traffic_interval` to `interval`).
    public var hadTraffic: Bool { connected.load(ordering: .relaxed) }

    public func markTraffic() {
        if !connected.load(ordering: .relaxed) { connected.store(true, ordering: .relaxed) }
    }

    private func withCounter<R>(_ kind: Kind, _ body: (borrowing Atomic<Int>) -> R) -> R {
        switch kind {
        case .connections: return body(connections)
        case .pendingRequests: return body(pendingRequests)
        case .requests: return body(requests)
        case .retries: return body(retries)
        case .ejectedHosts: return body(ejectedHosts)
        }
    }

    /// Takes a slot if fewer than `limit` are in use.
    public func tryAcquire(_ kind: Kind, limit: Int) -> Bool {
        withCounter(kind) { $0.incrementIfBelow(limit) }
    }

    /// Takes a slot whatever the limit (a pool's first connection is always allowed).
    public func forceAcquire(_ kind: Kind) {
        withCounter(kind) { _ = $0.add(1, ordering: .relaxed) }
    }

    public func release(_ kind: Kind) {
        withCounter(kind) { _ = $0.subtract(1, ordering: .relaxed) }
    }

    public func inUse(_ kind: Kind) -> Int {
        withCounter(kind) { $0.load(ordering: .relaxed) }
    }
}

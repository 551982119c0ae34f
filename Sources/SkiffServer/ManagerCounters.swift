import NIOCore
import SkiffTelemetry

/// `listener_manager.*` and `cluster_manager.*` as Envoy counts them: listeners and clusters
/// added, modified (a listener updated in place or moved to a new address) and removed, whether
/// from the bootstrap or the control plane.
struct ManagerCounters {
    var clusterAdded: Int64 = 0
    var clusterRemoved: Int64 = 0
    var listenerAdded: Int64 = 0
    var listenerModified: Int64 = 0
    var listenerRemoved: Int64 = 0
    var listenerInPlaceUpdated: Int64 = 0
    /// One per worker for every listener added or modified: the listener objects workers run.
    var listenerCreateSuccess: Int64 = 0
    /// Removed or replaced listeners still draining, until their drain deadline.
    var listenersDraining: [NIODeadline] = []
    /// Filter chains an in-place update replaced, draining until their deadline.
    var filterChainsDraining: [(count: Int, until: NIODeadline)] = []

    /// The values, once `pruneDrains` has forgotten the drains that are over.
    func samples() -> [StatSample] {
        let counter = StatSample.processCounter, gauge = StatSample.processGauge
        return [
            counter(.clusterManager, "cluster_added", clusterAdded),
            counter(.clusterManager, "cluster_removed", clusterRemoved),
            counter(.listenerManager, "listener_added", listenerAdded),
            counter(.listenerManager, "listener_modified", listenerModified),
            counter(.listenerManager, "listener_removed", listenerRemoved),
            counter(.listenerManager, "listener_in_place_updated", listenerInPlaceUpdated),
            counter(.listenerManager, "listener_create_success", listenerCreateSuccess),
            counter(.listenerManager, "listener_create_failure", 0),
            gauge(.listenerManager, "total_listeners_draining", Int64(listenersDraining.count)),
            gauge(.listenerManager, "total_filter_chains_draining", Int64(filterChainsDraining.reduce(0) { $0 + $1.count })),
            gauge(.listenerManager, "workers_started", 1),
            gauge(.listenerManager, "workers_pinned", 0),
        ]
    }

    /// Forgets drains that are over (so the lists stay bounded by what drains at once).
    mutating func pruneDrains(now: NIODeadline) {
        listenersDraining.removeAll { $0 <= now }
        filterChainsDraining.removeAll { $0.until <= now }
    }
}

extension StatSample {
    /// A process-wide stat (no scope): `server.*`, `listener_manager.*`, `cluster_manager.*`.
    static func processCounter(_ family: StatFamily, _ name: String, _ value: Int64) -> StatSample {
        StatSample(family: family, scope: "", suffix: name, kind: .counter, value: value)
    }

    static func processGauge(_ family: StatFamily, _ name: String, _ value: Int64) -> StatSample {
        StatSample(family: family, scope: "", suffix: name, kind: .gauge, value: value)
    }
}

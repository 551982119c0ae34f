import SkiffCore

/// The statistics of one worker (event loop): every scope it has touched, created on first use.
///
/// Handlers look their scope up once, when a connection or cluster is set up, and keep the
/// reference; the per-request cost is an array increment. The number of scopes is bounded by the
/// configuration (one per cluster, listener and connection-manager prefix).
public final class WorkerStats {
    private var scopes: [ScopeKey: StatsScope] = [:]
    /// Histogram bucket bounds come from here (`stats_config.histogram_bucket_settings`).
    public let config: StatsConfig

    public init(config: StatsConfig = StatsConfig()) {
        self.config = config
    }

    public func scope(_ family: StatFamily, _ name: String) -> StatsScope {
        let key = ScopeKey(family: family, name: name)
        if let existing = scopes[key] {
            return existing
        }
        let created = StatsScope(family: family, name: name, config: config)
        scopes[key] = created
        return created
    }

    public func cluster(_ name: String) -> StatsScope { scope(.cluster, name) }
    public func http(_ prefix: String) -> StatsScope { scope(.http, prefix) }
    public func listener(_ address: String) -> StatsScope { scope(.listener, address) }
    public func tcp(_ prefix: String) -> StatsScope { scope(.tcp, prefix) }

    /// Every value on this worker; call on the worker's event loop.
    public func samples() -> [StatSample] {
        scopes.values.flatMap { $0.samples() }
    }

    private struct ScopeKey: Hashable {
        var family: StatFamily
        var name: String
    }
}

@available(*, unavailable)
extension WorkerStats: Sendable {}

/// Merges samples from all workers: counters and gauges with the same name add up.
public enum StatsMerger {
    public static func merge(_ perWorker: [[StatSample]], extra: [StatSample] = []) -> [StatSample] {
        var index: [String: Int] = [:]
        var merged: [StatSample] = []
        for sample in perWorker.joined() + extra {
            let name = sample.envoyName
            if let at = index[name] {
                merged[at].value += sample.value
                if let histogram = sample.histogram { merged[at].histogram?.merge(histogram) }
            } else {
                index[name] = merged.count
                merged.append(sample)
            }
        }
        merged.sort { $0.envoyName < $1.envoyName }
        return merged
    }
}

import SkiffTelemetry
import Synchronization

/// The admin port's own statistics, with the names Envoy gives its admin listener and connection
/// manager: `listener.admin.*`, `listener.admin.main_thread.*`, `listener.admin.http.admin.*`
/// and `http.admin.*` (every name Envoy lists there; what the admin port cannot do — TLS,
/// HTTP/2, upgrades, timeouts, filters — stays at zero).
///
/// Admin traffic is a few requests a minute, so a lock is fine here; nothing on the data path
/// touches it.
public final class AdminStats: Sendable {
    struct Values {
        var cxTotal: Int64 = 0
        var cxActive: Int64 = 0
        var cxDestroyLocal: Int64 = 0
        var cxDestroyRemote: Int64 = 0
        var rxBytes: Int64 = 0
        var txBytes: Int64 = 0
        var rqTotal: Int64 = 0
        var rqActive: Int64 = 0
        var rqCompleted: Int64 = 0
        /// Responses by class, 1xx to 5xx.
        var rqClasses: [Int64] = [0, 0, 0, 0, 0]
        var cxLength: HistogramValue
        var rqTime: HistogramValue
        var listenerCxLength: HistogramValue
    }

    private let values: Mutex<Values>

    /// `buckets` gives each histogram's bounds by its dotted name (`stats_config`).
    public init(buckets: (String) -> [Double] = { _ in [] }) {
        values = Mutex(Values(
            cxLength: HistogramValue(bounds: buckets("http.admin.downstream_cx_length_ms")),
            rqTime: HistogramValue(bounds: buckets("http.admin.downstream_rq_time")),
            listenerCxLength: HistogramValue(bounds: buckets("listener.admin.downstream_cx_length_ms"))
        ))
    }

    func connectionOpened() {
        values.withLock {
            $0.cxTotal += 1
            $0.cxActive += 1
        }
    }

    /// `local`: the admin port closed it (a `connection: close` request), else the client did.
    func connectionClosed(local: Bool, lengthMillis: UInt64) {
        values.withLock {
            $0.cxActive -= 1
            if local { $0.cxDestroyLocal += 1 } else { $0.cxDestroyRemote += 1 }
            $0.cxLength.record(lengthMillis)
            $0.listenerCxLength.record(lengthMillis)
        }
    }

    func bytesRead(_ count: Int) {
        values.withLock { $0.rxBytes += Int64(count) }
    }

    func bytesWritten(_ count: Int) {
        values.withLock { $0.txBytes += Int64(count) }
    }

    func requestStarted() {
        values.withLock {
            $0.rqTotal += 1
            $0.rqActive += 1
        }
    }

    /// The response's status is counted when its head is made: Envoy's admin streams `/stats`,
    /// so a `/stats` page already counts its own 200 (measured).
    func responseStarted(status: Int) {
        values.withLock {
            $0.rqCompleted += 1
            let index = status / 100 - 1
            if index >= 0, index < 5 { $0.rqClasses[index] += 1 }
        }
    }

    func requestFinished(millis: UInt64) {
        values.withLock {
            $0.rqActive -= 1
            $0.rqTime.record(millis)
        }
    }

    /// Every admin stat, as `/stats` and `/stats/prometheus` list them.
    public func samples() -> [StatSample] {
        let v = values.withLock { $0 }
        let known: [String: Int64] = [
            "downstream_cx_total": v.cxTotal, "downstream_cx_http1_total": v.cxTotal,
            "downstream_cx_destroy": v.cxDestroyLocal + v.cxDestroyRemote,
            "downstream_cx_destroy_local": v.cxDestroyLocal, "downstream_cx_destroy_remote": v.cxDestroyRemote,
            "downstream_cx_rx_bytes_total": v.rxBytes, "downstream_cx_tx_bytes_total": v.txBytes,
            "downstream_rq_total": v.rqTotal, "downstream_rq_http1_total": v.rqTotal, "downstream_rq_completed": v.rqCompleted,
            "downstream_cx_active": v.cxActive, "downstream_cx_http1_active": v.cxActive, "downstream_rq_active": v.rqActive,
        ]
        var out: [StatSample] = []
        // The admin port has no filters, no router and no tracing: none of their stats is listed.
        func adminHas(_ name: String) -> Bool {
            !name.hasPrefix("fault.") && !name.hasPrefix("rbac.") && !name.hasPrefix("tracing.") && !name.hasPrefix("ssl.")
                && !Self.routerStats.contains(name)
        }
        for name in StatFamily.http.counterNames where adminHas(name) {
            out.append(StatSample(family: .http, scope: "admin", suffix: name, kind: .counter, value: known[name] ?? 0))
        }
        for name in StatFamily.http.gaugeNames where adminHas(name) {
            out.append(StatSample(family: .http, scope: "admin", suffix: name, kind: .gauge, value: known[name] ?? 0))
        }
        for (index, count) in v.rqClasses.enumerated() {
            out.append(StatSample(family: .http, scope: "admin", suffix: "downstream_rq_\(index + 1)xx", kind: .counter, value: count))
            out.append(StatSample(family: .listenerHTTP, scope: "admin.http.admin", suffix: "downstream_rq_\(index + 1)xx", kind: .counter, value: count))
        }
        out.append(StatSample(family: .listenerHTTP, scope: "admin.http.admin", suffix: "downstream_rq_completed", kind: .counter, value: v.rqCompleted))
        out.append(Self.histogram(.http, "admin", "downstream_cx_length_ms", v.cxLength))
        out.append(Self.histogram(.http, "admin", "downstream_rq_time", v.rqTime))

        let listener: [String: Int64] = [
            "downstream_cx_total": v.cxTotal, "downstream_cx_destroy": v.cxDestroyLocal + v.cxDestroyRemote,
            "downstream_cx_active": v.cxActive,
        ]
        // Envoy's admin listener has no extension config discovery counters.
        for name in StatFamily.listener.counterNames where adminHas(name) && !name.hasSuffix("extension_config_missing") {
            out.append(StatSample(family: .listener, scope: "admin", suffix: name, kind: .counter, value: listener[name] ?? 0))
        }
        for name in StatFamily.listener.gaugeNames {
            out.append(StatSample(family: .listener, scope: "admin", suffix: name, kind: .gauge, value: listener[name] ?? 0))
        }
        out.append(Self.histogram(.listener, "admin", "downstream_cx_length_ms", v.listenerCxLength))
        // Envoy runs its admin listener on the main thread.
        out.append(StatSample(family: .listenerWorker, scope: "admin.main_thread", suffix: "downstream_cx_total", kind: .counter, value: v.cxTotal))
        out.append(StatSample(family: .listenerWorker, scope: "admin.main_thread", suffix: "downstream_cx_active", kind: .gauge, value: v.cxActive))
        return out
    }

    /// The router's counters in a connection manager's scope (Envoy's admin has no router).
    static let routerStats: Set<String> = [
        "no_route", "no_cluster", "rq_total", "rq_direct_response", "rq_redirect", "rq_overload_local_reply",
        "passthrough_internal_redirect_bad_location", "passthrough_internal_redirect_no_route",
        "passthrough_internal_redirect_predicate", "passthrough_internal_redirect_too_many_redirects",
        "passthrough_internal_redirect_unsafe_scheme",
    ]

    static func histogram(_ family: StatFamily, _ scope: String, _ suffix: String, _ value: HistogramValue) -> StatSample {
        var sample = StatSample(family: family, scope: scope, suffix: suffix, kind: .histogram, value: 0)
        sample.histogram = value
        return sample
    }
}

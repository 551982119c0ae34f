import NIOCore
import SkiffAdmin
import SkiffCore
import SkiffTelemetry
import SkiffConfig
import SkiffUpstream
import SkiffXDS

extension SkiffServer: AdminBackend {
    /// What the admin endpoints show: every stat `stats_config.stats_matcher` admits.
    public func statsSamples() async -> [StatSample] {
        await allStatsSamples().filter { statsTags.admits($0.envoyName) }
    }

    /// Every stat, whatever `stats_matcher` hides (the drain logic reads active requests here).
    func allStatsSamples() async -> [StatSample] {
        let perWorker = await perWorker { $0.stats.samples() + $0.istio.samples() }
        let server: [StatSample] = [
            StatSample(family: .server, scope: "", suffix: "live", kind: .gauge, value: isLiveNow ? 1 : 0),
            StatSample(family: .server, scope: "", suffix: "uptime", kind: .gauge, value: Int64(uptimeSeconds)),
            StatSample(family: .server, scope: "", suffix: "concurrency", kind: .gauge, value: Int64(options.concurrency)),
            StatSample(family: .server, scope: "", suffix: "state", kind: .gauge, value: serverStateValue),
        ]
        // Listed with or without access logs, as Envoy lists them.
        let accessLogs = AccessLogSinks.shared.samples()
        let openConnections = perWorker.joined().reduce(Int64(0)) { sum, sample in
            sample.family == .listener && sample.suffix == "downstream_cx_active" ? sum + sample.value : sum
        }
        let now = NIODeadline.now()
        let managers = state.withLock { state -> ManagerCounters in
            state.managers.pruneDrains(now: now)
            return state.managers
        }
        let adminStats = state.withLock { $0.admin?.stats.samples() } ?? []
        let processWide = ServerStats.samples(totalConnections: openConnections) + managers.samples() + adminStats
        return StatsMerger.merge(perWorker, extra: server + processWide + certificateExpirySamples() + (await controlPlaneSamples()) + (await clusterDiscoverySamples()) + circuitBreakerSamples() + accessLogs + tracingSamples())
    }

    public func clustersText() async -> String {
        let reports = await perWorker { worker -> [String: [HostLine]] in
            worker.clusters.hostReport().mapValues { $0.map { HostLine(host: $0.host, weight: $0.weight, counters: $0.counters) } }
        }
        return ClustersRenderer.render(clusters: currentClusters, perWorker: reports)
    }

    public func configDump() async -> String {
        let ads = state.withLock { $0.ads }
        var dynamic: ConfigDumpRenderer.Dynamic?
        if let ads {
            dynamic = ConfigDumpRenderer.Dynamic(status: await ads.status, warming: await ads.warming)
        }
        return ConfigDumpRenderer.render(snapshot, dynamic: dynamic)
    }

    public func serverInfo() async -> String {
        let node = snapshot.node
        return """
            {"version":"skiff/\(SkiffCore.version)/Clean/RELEASE","state":"\(currentStateName)",\
            "hot_restart_version":"disabled","uptime_current_epoch":"\(uptimeSeconds)s",\
            "uptime_all_epochs":"\(uptimeSeconds)s","command_line_options":{"concurrency":\(options.concurrency),\
            "service_node":"\(jsonEscape(node.id))","service_cluster":"\(jsonEscape(node.cluster))",\
            "drain_time":"\(options.drainTime.nanoseconds / 1_000_000_000)s","restart_epoch":0},\
            "node":{"id":"\(jsonEscape(node.id))","cluster":"\(jsonEscape(node.cluster))",\
            "user_agent_name":"skiff"}}
            """
    }

    public func isLive() -> Bool { isLiveNow }

    public func stateName() -> String { currentStateName }

    /// Envoy's `server.state`: 0 live, 1 draining, 2 pre-initializing, 3 initializing. A failed
    /// health check (`/healthcheck/fail`) leaves it 0, as in Envoy, though `/ready` says DRAINING.
    var serverStateValue: Int64 {
        state.withLock { state in
            if state.draining || (!state.live && state.initialized) { return 1 }
            return state.initialized ? 0 : 3
        }
    }
}

/// One host line of `/clusters`, merged across workers.
struct HostLine: Sendable {
    var host: String
    var weight: Int
    var counters: HostCounters
}

/// Envoy's `/clusters` text: `cluster::host::stat::value` lines.
enum ClustersRenderer {
    static func render(clusters: [ClusterConfig], perWorker: [[String: [HostLine]]]) -> String {
        var out = ""
        for cluster in clusters.sorted(by: { $0.name < $1.name }) {
            let name = cluster.name
            out += "\(name)::observability_name::\(name)\n"
            out += "\(name)::default_priority::max_connections::1024\n"
            out += "\(name)::default_priority::max_pending_requests::1024\n"
            out += "\(name)::default_priority::max_requests::1024\n"
            out += "\(name)::default_priority::max_retries::3\n"
            out += "\(name)::added_via_api::false\n"
            var merged: [String: HostLine] = [:]
            var order: [String] = []
            for report in perWorker {
                for line in report[name] ?? [] {
                    if var existing = merged[line.host] {
                        existing.counters = existing.counters + line.counters
                        merged[line.host] = existing
                    } else {
                        merged[line.host] = line
                        order.append(line.host)
                    }
                }
            }
            for host in order {
                let line = merged[host]!
                let c = line.counters
                let prefix = "\(name)::\(host)::"
                out += prefix + "cx_active::\(c.cxActive)\n"
                out += prefix + "cx_connect_fail::\(c.cxConnectFail)\n"
                out += prefix + "cx_total::\(c.cxTotal)\n"
                out += prefix + "rq_active::\(Int64(c.rqTotal) - Int64(c.rqSuccess + c.rqError))\n"
                out += prefix + "rq_error::\(c.rqError)\n"
                out += prefix + "rq_success::\(c.rqSuccess)\n"
                out += prefix + "rq_timeout::\(c.rqTimeout)\n"
                out += prefix + "rq_total::\(c.rqTotal)\n"
                out += prefix + "hostname::\n"
                out += prefix + "health_flags::" + c.healthFlags + "\n"
                out += prefix + "weight::\(line.weight)\n"
                out += prefix + "region::\n"
                out += prefix + "zone::\n"
                out += prefix + "sub_zone::\n"
                out += prefix + "canary::false\n"
                out += prefix + "priority::0\n"
                out += prefix + "success_rate::-1\n"
                out += prefix + "local_origin_success_rate::-1\n"
            }
        }
        return out
    }
}

/// Envoy's `/config_dump`: the bootstrap as loaded, and every resource from the control plane
/// with its version and when it was accepted, in Envoy's shapes (`dynamic_active_clusters`,
/// `dynamic_listeners`, `dynamic_route_configs`, ...). A type's last rejected response shows as
/// `error_state` on the resources it named and as `last_nack` (version, nonce, details) on the
/// type.
enum ConfigDumpRenderer {
    struct Dynamic {
        var status: [XDSResourceType: XDSTypeStatus]
        var warming: (clusters: [String], listeners: [String])
    }

    static func render(_ snapshot: BootstrapSnapshot, dynamic: Dynamic? = nil) -> String {
        let updated = iso8601(snapshot.loadedAt)
        let listeners = snapshot.listeners.map { "{\"name\":\"\(jsonEscape($0.name))\",\"address\":\"\(jsonEscape($0.address.description))\",\"last_updated\":\"\(updated)\"}" }
        let clusters = snapshot.clusters.map { "{\"name\":\"\(jsonEscape($0.name))\",\"type\":\"\($0.discovery.rawValue)\",\"last_updated\":\"\(updated)\"}" }
        var clusterDump = "\"version_info\":\"\(jsonEscape(dynamic?.status[.cluster]?.version ?? "static"))\",\"static_clusters\":[\(clusters.joined(separator: ","))]"
        var listenerDump = "\"version_info\":\"\(jsonEscape(dynamic?.status[.listener]?.version ?? "static"))\",\"static_listeners\":[\(listeners.joined(separator: ","))]"
        var extra = ""
        if let dynamic {
            let cds = dynamic.status[.cluster] ?? XDSTypeStatus()
            let warmingClusters = Set(dynamic.warming.clusters)
            let active = entries(cds, field: "cluster", skip: warmingClusters)
            let warming = entries(cds, field: "cluster", only: warmingClusters)
            clusterDump += ",\"dynamic_active_clusters\":[\(active)],\"dynamic_warming_clusters\":[\(warming)]" + nack(cds)
            let lds = dynamic.status[.listener] ?? XDSTypeStatus()
            let warmingListeners = Set(dynamic.warming.listeners)
            listenerDump += ",\"dynamic_listeners\":[\(dynamicListeners(lds, warming: warmingListeners))]" + nack(lds)
            let rds = dynamic.status[.route] ?? XDSTypeStatus()
            let eds = dynamic.status[.endpoint] ?? XDSTypeStatus()
            let sds = dynamic.status[.secret] ?? XDSTypeStatus()
            extra = """
                ,{"@type":"type.googleapis.com/envoy.admin.v3.RoutesConfigDump","dynamic_route_configs":[\(entries(rds, field: "route_config"))]\(nack(rds))}\
                ,{"@type":"type.googleapis.com/envoy.admin.v3.SecretsConfigDump","dynamic_active_secrets":[\(entries(sds, field: "secret", named: true))]\(nack(sds))}\
                ,{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","dynamic_endpoint_configs":[\(entries(eds, field: "endpoint_config"))]\(nack(eds))}
                """
        }
        return """
            {"configs":[\
            {"@type":"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump","bootstrap":\(ResourceTranslator.redactPrivateKeys(snapshot.sourceJSON)),"last_updated":"\(updated)"},\
            {"@type":"type.googleapis.com/envoy.admin.v3.ClustersConfigDump",\(clusterDump)},\
            {"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump",\(listenerDump)}\(extra)\
            ]}
            """
    }

    private static func entries(
        _ status: XDSTypeStatus, field: String, named: Bool = false, skip: Set<String> = [], only: Set<String>? = nil
    ) -> String {
        var out: [String] = []
        for record in status.resources.values.sorted(by: { $0.name < $1.name }) {
            if skip.contains(record.name) { continue }
            if let only, !only.contains(record.name) { continue }
            var entry = named ? "{\"name\":\"\(jsonEscape(record.name))\"," : "{"
            entry += "\"version_info\":\"\(jsonEscape(record.version))\",\"\(field)\":\(ResourceTranslator.dumpJSON(record.resource)),"
            entry += "\"last_updated\":\"\(iso8601Millis(record.lastUpdated))\"\(errorState(status, name: record.name))}"
            out.append(entry)
        }
        return out.joined(separator: ",")
    }

    private static func dynamicListeners(_ status: XDSTypeStatus, warming: Set<String>) -> String {
        var out: [String] = []
        var names = Set(status.resources.keys)
        names.formUnion(status.lastRejection?.rejectedNames ?? [])
        for name in names.sorted() {
            var entry = "{\"name\":\"\(jsonEscape(name))\""
            if let record = status.resources[name] {
                let state = "{\"version_info\":\"\(jsonEscape(record.version))\",\"listener\":\(ResourceTranslator.dumpJSON(record.resource)),\"last_updated\":\"\(iso8601Millis(record.lastUpdated))\"}"
                entry += warming.contains(name) ? ",\"warming_state\":\(state)" : ",\"active_state\":\(state)"
            }
            entry += errorState(status, name: name) + "}"
            out.append(entry)
        }
        return out.joined(separator: ",")
    }

    /// Envoy's `UpdateFailureState` for a resource named in the type's last rejected response.
    private static func errorState(_ status: XDSTypeStatus, name: String) -> String {
        guard let rejection = status.lastRejection, rejection.rejectedNames.contains(name) else { return "" }
        return ",\"error_state\":{\"last_update_attempt\":\"\(iso8601Millis(rejection.time))\",\"details\":\"\(jsonEscape(rejection.reason))\",\"version_info\":\"\(jsonEscape(rejection.version))\"}"
    }

    private static func nack(_ status: XDSTypeStatus) -> String {
        guard let rejection = status.lastRejection else { return "" }
        return ",\"last_nack\":{\"version_info\":\"\(jsonEscape(rejection.version))\",\"nonce\":\"\(jsonEscape(rejection.nonce))\",\"details\":\"\(jsonEscape(rejection.reason))\",\"last_update_attempt\":\"\(iso8601Millis(rejection.time))\"}"
    }

    static func iso8601Millis(_ seconds: Double) -> String {
        let whole = HTTPDateCache.iso8601(epochSeconds: Int(seconds))
        let millis = Int((seconds - seconds.rounded(.down)) * 1000)
        guard whole.hasSuffix("Z") else { return whole }
        let padded = String(repeating: "0", count: 3 - min(3, String(millis).count)) + String(millis)
        return String(whole.dropLast()) + "." + padded + "Z"
    }

    static func iso8601(_ seconds: Double) -> String {
        HTTPDateCache.iso8601(epochSeconds: Int(seconds))
    }
}

extension SkiffServer {
    /// Control-plane statistics with Envoy's names: `control_plane.connected_state`,
    /// `cluster_manager.cds.*`, `listener_manager.lds.*`, `cluster.<name>.update_*` (EDS) and
    /// `http.<prefix>.rds.<name>.*`.
    func controlPlaneSamples() async -> [StatSample] {
        let (ads, connected) = state.withLock { ($0.ads, $0.controlPlaneConnected) }
        var out: [StatSample] = []
        let clusters = currentClusters
        let listeners = currentListeners
        out.append(StatSample(family: .clusterManager, scope: "", suffix: "active_clusters", kind: .gauge, value: Int64(clusters.count)))
        out.append(StatSample(family: .listenerManager, scope: "", suffix: "total_listeners_active", kind: .gauge, value: Int64(listeners.count)))
        let stopped = state.withLock { Int64($0.stoppedListeners.count) }
        out.append(StatSample(family: .listenerManager, scope: "", suffix: "listener_stopped", kind: .counter, value: stopped))
        guard let ads else {
            // Nothing can warm without a control plane; Envoy lists both at zero.
            out.append(StatSample(family: .clusterManager, scope: "", suffix: "warming_clusters", kind: .gauge, value: 0))
            out.append(StatSample(family: .listenerManager, scope: "", suffix: "total_listeners_warming", kind: .gauge, value: 0))
            return out
        }
        let status: [XDSResourceType: XDSTypeStatus] = await ads.status
        let warming = await ads.warming
        out.append(StatSample(family: .controlPlane, scope: "", suffix: "connected_state", kind: .gauge, value: connected ? 1 : 0))
        out.append(StatSample(family: .controlPlane, scope: "", suffix: "pending_requests", kind: .gauge, value: 0))
        out.append(StatSample(family: .controlPlane, scope: "", suffix: "rate_limit_enforced", kind: .counter, value: 0))
        out.append(StatSample(family: .clusterManager, scope: "", suffix: "warming_clusters", kind: .gauge, value: Int64(warming.clusters.count)))
        out.append(StatSample(family: .listenerManager, scope: "", suffix: "total_listeners_warming", kind: .gauge, value: Int64(warming.listeners.count)))
        func counters(_ type: XDSTypeStatus, family: StatFamily, scope: String, prefix: String) {
            let values: [(String, Int64)] = [
                ("update_attempt", type.updateAttempt), ("update_success", type.updateSuccess),
                ("update_rejected", type.updateRejected), ("update_failure", type.updateFailure),
                ("config_reload", type.updateSuccess),
            ]
            for (name, value) in values {
                out.append(StatSample(family: family, scope: scope, suffix: prefix + name, kind: .counter, value: value))
            }
        }
        counters(status[.cluster] ?? XDSTypeStatus(), family: .clusterManager, scope: "", prefix: "cds.")
        counters(status[.listener] ?? XDSTypeStatus(), family: .listenerManager, scope: "", prefix: "lds.")
        let eds = status[.endpoint] ?? XDSTypeStatus()
        for cluster in clusters where cluster.discovery == .eds {
            let service = cluster.edsServiceName ?? cluster.name
            out.append(StatSample(family: .cluster, scope: cluster.name, suffix: "update_success", kind: .counter, value: eds.perResourceSuccess[service] ?? 0))
            out.append(StatSample(family: .cluster, scope: cluster.name, suffix: "update_rejected", kind: .counter, value: eds.perResourceRejected[service] ?? 0))
        }
        let rds = status[.route] ?? XDSTypeStatus()
        var seen = Set<String>()
        for listener in listeners {
            for chain in listener.filterChains {
                guard case .httpConnectionManager(let hcm) = chain.filter, let name = hcm.rdsName else { continue }
                guard seen.insert("\(hcm.statPrefix)/\(name)").inserted else { continue }
                let prefix = "rds.\(name)."
                out.append(StatSample(family: .http, scope: hcm.statPrefix, suffix: prefix + "update_success", kind: .counter, value: rds.perResourceSuccess[name] ?? 0))
                out.append(StatSample(family: .http, scope: hcm.statPrefix, suffix: prefix + "update_rejected", kind: .counter, value: rds.perResourceRejected[name] ?? 0))
                out.append(StatSample(family: .http, scope: hcm.statPrefix, suffix: prefix + "config_reload", kind: .counter, value: rds.perResourceSuccess[name] ?? 0))
            }
        }
        return out
    }
}

extension SkiffServer {
    /// `cluster.<name>.circuit_breakers.default.{cx,rq_pending,rq,rq_retry}_open` (1 while the
    /// limit is reached) and, with `track_remaining`, `remaining_{cx,pending,rq,retries}`.
    func circuitBreakerSamples() -> [StatSample] {
        let (configs, resources) = state.withLock { ($0.clusterConfigs, $0.clusterResources) }
        var out: [StatSample] = []
        for (name, config) in configs.sorted(by: { $0.key < $1.key }) {
            guard let shared = resources[name] else { continue }
            let limits = config.circuitBreakers
            let rows: [(String, String, ClusterResources.Kind, Int)] = [
                ("cx_open", "remaining_cx", .connections, limits.maxConnections),
                ("rq_pending_open", "remaining_pending", .pendingRequests, limits.maxPendingRequests),
                ("rq_open", "remaining_rq", .requests, limits.maxRequests),
                ("rq_retry_open", "remaining_retries", .retries,
                 limits.retryLimit(activeRequests: shared.inUse(.requests), pendingRequests: shared.inUse(.pendingRequests))),
            ]
            if config.healthCheck != nil {
                let hc = state.withLock { $0.healthCheckStats[name] } ?? HealthCheckStats()
                let healthy = state.withLock { ($0.hostHealth[name] ?? [:]).values.filter { !$0.isFailingActiveCheck }.count }
                for (suffix, value) in [("attempt", hc.attempt), ("success", hc.success), ("failure", hc.failure), ("network_failure", hc.networkFailure)] {
                    out.append(StatSample(family: .cluster, scope: name, suffix: "health_check." + suffix, kind: .counter, value: value))
                }
                out.append(StatSample(family: .cluster, scope: name, suffix: "health_check.healthy", kind: .gauge, value: Int64(healthy)))
            }
            out += membershipSamples(cluster: name)
            if config.outlierDetection != nil {
                var tickCounts = state.withLock { $0.outlierTickStats[name] } ?? [:]
                for reason in ["success_rate", "local_origin_success_rate", "failure_percentage", "local_origin_failure_percentage"] {
                    tickCounts["ejections_enforced_" + reason, default: 0] += 0
                    tickCounts["ejections_detected_" + reason, default: 0] += 0
                }
                for (suffix, value) in tickCounts.sorted(by: { $0.key < $1.key }) {
                    out.append(StatSample(family: .cluster, scope: name, suffix: "outlier_detection." + suffix, kind: .counter, value: value))
                }
                out.append(StatSample(family: .cluster, scope: name, suffix: "outlier_detection.ejections_active", kind: .gauge, value: Int64(shared.inUse(.ejectedHosts))))
            }
            for (open, remaining, kind, limit) in rows {
                let used = shared.inUse(kind)
                out.append(StatSample(family: .cluster, scope: name, suffix: "circuit_breakers.default." + open, kind: .gauge, value: used >= limit ? 1 : 0))
                if limits.trackRemaining {
                    out.append(StatSample(family: .cluster, scope: name, suffix: "circuit_breakers.default." + remaining, kind: .gauge, value: Int64(max(0, limit - used))))
                }
            }
        }
        return out
    }

    /// `membership_total` / `_healthy` / `_degraded` / `_excluded`: hosts by EDS status, outlier
    /// ejection and active health checking (a host is healthy only if nothing fails it).
    func membershipSamples(cluster name: String) -> [StatSample] {
        let (endpoints, health, changes) = state.withLock { ($0.resolved[name] ?? [], $0.hostHealth[name] ?? [:], $0.membershipChanges[name] ?? 0) }
        var healthy = 0, degraded = 0, excluded = 0
        for endpoint in endpoints {
            let usable = health[endpoint.address]?.isUsable ?? true
            switch endpoint.status {
            case .healthy where usable: healthy += 1
            case .degraded where usable: degraded += 1
            case .draining: excluded += 1
            default: break
            }
        }
        return [("membership_total", endpoints.count), ("membership_healthy", healthy), ("membership_degraded", degraded), ("membership_excluded", excluded)]
            .map { StatSample(family: .cluster, scope: name, suffix: $0.0, kind: .gauge, value: Int64($0.1)) }
            + [StatSample(family: .cluster, scope: name, suffix: "membership_change", kind: .counter, value: changes)]
    }
}

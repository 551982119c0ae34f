import NIOCore
import SkiffAdmin
import SkiffCore
import SkiffTelemetry
import SkiffUpstream

extension SkiffServer: AdminBackend {
    public func statsSamples() async -> [StatSample] {
        let perWorker = await perWorker { $0.stats.samples() }
        let server: [StatSample] = [
            StatSample(family: .server, scope: "", suffix: "live", kind: .gauge, value: isLiveNow ? 1 : 0),
            StatSample(family: .server, scope: "", suffix: "uptime", kind: .gauge, value: Int64(uptimeSeconds)),
            StatSample(family: .server, scope: "", suffix: "concurrency", kind: .gauge, value: Int64(options.concurrency)),
            StatSample(family: .server, scope: "", suffix: "state", kind: .gauge, value: isLiveNow ? 0 : 1),
        ]
        return StatsMerger.merge(perWorker, extra: server)
    }

    public func clustersText() async -> String {
        let reports = await perWorker { worker -> [String: [HostLine]] in
            worker.clusters.hostReport().mapValues { $0.map { HostLine(host: $0.host, weight: $0.weight, counters: $0.counters) } }
        }
        return ClustersRenderer.render(clusters: snapshot.clusters, perWorker: reports)
    }

    public func configDump() async -> String {
        ConfigDumpRenderer.render(snapshot)
    }

    public func serverInfo() async -> String {
        let node = snapshot.node
        return """
            {"version":"skiff/\(SkiffCore.version)/Clean/RELEASE","state":"\(isLiveNow ? "LIVE" : "DRAINING")",\
            "hot_restart_version":"disabled","uptime_current_epoch":"\(uptimeSeconds)s",\
            "uptime_all_epochs":"\(uptimeSeconds)s","command_line_options":{"concurrency":\(options.concurrency),\
            "service_node":"\(jsonEscape(node.id))","service_cluster":"\(jsonEscape(node.cluster))",\
            "drain_time":"\(options.drainTime.nanoseconds / 1_000_000_000)s","restart_epoch":0},\
            "node":{"id":"\(jsonEscape(node.id))","cluster":"\(jsonEscape(node.cluster))",\
            "user_agent_name":"skiff"}}
            """
    }

    public func isLive() -> Bool { isLiveNow }
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
                out += prefix + "health_flags::healthy\n"
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

/// Envoy's `/config_dump`: the bootstrap as loaded, with when it was loaded.
enum ConfigDumpRenderer {
    static func render(_ snapshot: BootstrapSnapshot) -> String {
        let updated = iso8601(snapshot.loadedAt)
        let listeners = snapshot.listeners.map { "{\"name\":\"\(jsonEscape($0.name))\",\"address\":\"\(jsonEscape($0.address.description))\",\"last_updated\":\"\(updated)\"}" }
        let clusters = snapshot.clusters.map { "{\"name\":\"\(jsonEscape($0.name))\",\"type\":\"\($0.discovery.rawValue)\",\"last_updated\":\"\(updated)\"}" }
        return """
            {"configs":[\
            {"@type":"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump","bootstrap":\(snapshot.sourceJSON),"last_updated":"\(updated)"},\
            {"@type":"type.googleapis.com/envoy.admin.v3.ClustersConfigDump","version_info":"static","static_clusters":[\(clusters.joined(separator: ","))]},\
            {"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump","version_info":"static","static_listeners":[\(listeners.joined(separator: ","))]}\
            ]}
            """
    }

    static func iso8601(_ seconds: Double) -> String {
        HTTPDateCache.iso8601(epochSeconds: Int(seconds))
    }
}

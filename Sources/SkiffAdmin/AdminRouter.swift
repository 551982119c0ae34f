import SkiffCore
import SkiffTelemetry

/// Maps an admin request to its response, following Envoy's admin API: paths, methods (mutating
/// endpoints need POST, as in Envoy) and body formats.
public enum AdminRouter {
    public static func handle(method: String, uri: String, backend: some AdminBackend) async -> AdminResponse {
        let (path, query) = split(uri)
        switch (path, method) {
        case ("/ready", "GET"), ("/ready", "HEAD"):
            return backend.isLive()
                ? AdminResponse(status: 200, body: "LIVE\n")
                : AdminResponse(status: 503, body: backend.stateName() + "\n")
        case ("/server_info", "GET"):
            return AdminResponse(status: 200, contentType: "application/json", body: await backend.serverInfo())
        case ("/certs", "GET"):
            return AdminResponse(status: 200, contentType: "application/json", body: await backend.certificatesJSON())
        case ("/config_dump", "GET"):
            return AdminResponse(status: 200, contentType: "application/json", body: await backend.configDump())
        case ("/clusters", "GET"):
            return AdminResponse(status: 200, body: await backend.clustersText())
        case ("/stats/prometheus", "GET"):
            return await stats(query: query, backend: backend, format: "prometheus")
        case ("/stats", "GET"):
            return await stats(query: query, backend: backend, format: query["format"] ?? "text")
        case ("/quitquitquit", "POST"):
            backend.requestQuit()
            return AdminResponse(status: 200, body: "OK\n")
        case ("/drain_listeners", "POST"):
            let graceful = query["graceful"] != nil
            backend.drainListenersRequested(graceful: graceful, inboundOnly: query["inboundonly"] != nil, skipExit: query["skip_exit"] != nil)
            return AdminResponse(status: 200, body: "OK\n")
        case ("/healthcheck/fail", "POST"):
            await backend.setHealthCheckFailed(true)
            return AdminResponse(status: 200, body: "OK\n")
        case ("/healthcheck/ok", "POST"):
            await backend.setHealthCheckFailed(false)
            return AdminResponse(status: 200, body: "OK\n")
        case ("/quitquitquit", _), ("/drain_listeners", _), ("/healthcheck/fail", _), ("/healthcheck/ok", _):
            return AdminResponse(status: 405, body: "This endpoint requires POST\n")
        case ("/", "GET"), ("/help", "GET"):
            return AdminResponse(status: 200, body: help)
        default:
            return AdminResponse(status: 404, body: "invalid path. admin commands are:\n" + help)
        }
    }

    /// `/stats` in any of Envoy's formats, with `filter` (a regex searched in the dotted name) and
    /// `usedonly`.
    static func stats(query: [String: String], backend: some AdminBackend, format: String) async -> AdminResponse {
        var options = PrometheusRenderer.Options(usedOnly: query["usedonly"] != nil)
        if let pattern = query["filter"], !pattern.isEmpty {
            guard let regex = try? Regex(pattern) else {
                return AdminResponse(status: 400, body: "Invalid re2 regex\n")
            }
            options.filter = regex
        }
        let samples = await backend.statsSamples()
        switch format {
        case "prometheus":
            return AdminResponse(
                status: 200, contentType: "text/plain; version=0.0.4; charset=UTF-8",
                body: PrometheusRenderer.render(samples, tags: backend.statsTags, options: options)
            )
        case "json":
            return AdminResponse(status: 200, contentType: "application/json", body: StatsText.json(StatsText.select(samples, options)))
        case "text":
            return AdminResponse(status: 200, body: StatsText.plain(StatsText.select(samples, options)))
        default:
            return AdminResponse(status: 404, body: "usage: /stats?format=(json|prometheus|text)\n")
        }
    }

    static let help = """
        admin commands are:
          /clusters: upstream cluster status
          /certs: print certs on machine
          /config_dump: dump current Envoy configs
          /drain_listeners (POST): drain listeners (graceful, inboundonly, skip_exit)
          /healthcheck/fail (POST): cause the server to fail health checks
          /healthcheck/ok (POST): cause the server to pass health checks
          /help: print out list of admin commands
          /quitquitquit (POST): exit the server
          /ready: print server state, return 200 if LIVE, otherwise return 503
          /server_info: print server version/status information
          /stats: print server stats (format=json|prometheus|text, filter=REGEX, usedonly)
          /stats/prometheus: print server stats in prometheus format

        """

    static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            query[String(parts[0])] = parts.count > 1 ? percentDecoded(parts[1]) : ""
        }
        return (String(uri[..<mark]), query)
    }
}

/// Decodes `%XX` escapes and `+` in a query value (`filter=cluster%5C.a` → `cluster\.a`).
func percentDecoded(_ value: Substring) -> String {
    var bytes: [UInt8] = []
    var iterator = Array(value.utf8)[...]
    while let byte = iterator.popFirst() {
        if byte == UInt8(ascii: "%"), iterator.count >= 2,
           let hex = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) {
            bytes.append(hex)
            iterator = iterator.dropFirst(2)
        } else {
            bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// `/stats` in Envoy's plain (`name: value`) and JSON forms. Histograms come after counters and
/// gauges, as quantiles: `P0(nan,1) P25(nan,1.5) ...` (`nan` because Skiff keeps no flush
/// intervals; Envoy prints the same until its second flush) or `No recorded values`.
enum StatsText {
    static func select(_ samples: [StatSample], _ options: PrometheusRenderer.Options) -> [StatSample] {
        samples.filter { sample in
            if options.usedOnly, !sample.isUsed { return false }
            if let filter = options.filter, (try? filter.firstMatch(in: sample.envoyName)) == nil { return false }
            return true
        }
    }

    static func plain(_ samples: [StatSample]) -> String {
        var out = ""
        for sample in samples where sample.histogram == nil {
            out += "\(sample.envoyName): \(sample.value)\n"
        }
        for sample in samples {
            guard let histogram = sample.histogram else { continue }
            out += "\(sample.envoyName): "
            if histogram.count == 0 {
                out += "No recorded values\n"
                continue
            }
            out += HistogramValue.supportedQuantiles.map { q in
                "P\(statNumber(q))(nan,\(statNumber(histogram.quantile(q) ?? 0)))"
            }.joined(separator: " ") + "\n"
        }
        return out
    }

    static func json(_ samples: [StatSample]) -> String {
        var items = samples.filter { $0.histogram == nil }.map { "{\"name\":\"\(jsonEscape($0.envoyName))\",\"value\":\($0.value)}" }
        let histograms = samples.filter { $0.histogram != nil }
        if !histograms.isEmpty {
            let computed = histograms.map { sample -> String in
                let histogram = sample.histogram!
                let values = HistogramValue.supportedQuantiles.map { q -> String in
                    let value = histogram.quantile(q).map(statNumber) ?? "null"
                    return "{\"interval\":null,\"cumulative\":\(value)}"
                }
                return "{\"name\":\"\(jsonEscape(sample.envoyName))\",\"values\":[\(values.joined(separator: ","))]}"
            }
            let supported = HistogramValue.supportedQuantiles.map(statNumber).joined(separator: ",")
            items.append("{\"histograms\":{\"supported_quantiles\":[\(supported)],\"computed_quantiles\":[\(computed.joined(separator: ","))]}}")
        }
        return "{\"stats\":[" + items.joined(separator: ",") + "]}"
    }
}

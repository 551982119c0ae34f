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
            return AdminResponse(
                status: 200, contentType: "text/plain; version=0.0.4; charset=UTF-8",
                body: PrometheusRenderer.render(await backend.statsSamples())
            )
        case ("/stats", "GET"):
            let samples = await backend.statsSamples()
            if query["format"] == "json" {
                return AdminResponse(status: 200, contentType: "application/json", body: StatsText.json(samples))
            }
            if query["format"] == "prometheus" {
                return AdminResponse(status: 200, body: PrometheusRenderer.render(samples))
            }
            return AdminResponse(status: 200, body: StatsText.plain(samples, filter: query["filter"]))
        case ("/quitquitquit", "POST"):
            backend.requestQuit()
            return AdminResponse(status: 200, body: "OK\n")
        case ("/quitquitquit", _):
            return AdminResponse(status: 405, body: "This endpoint requires POST\n")
        case ("/", "GET"), ("/help", "GET"):
            return AdminResponse(status: 200, body: help)
        default:
            return AdminResponse(status: 404, body: "invalid path. admin commands are:\n" + help)
        }
    }

    static let help = """
        admin commands are:
          /clusters: upstream cluster status
          /certs: print certs on machine
          /config_dump: dump current Envoy configs
          /help: print out list of admin commands
          /quitquitquit (POST): exit the server
          /ready: print server state, return 200 if LIVE, otherwise return 503
          /server_info: print server version/status information
          /stats: print server stats (format=json, filter=REGEX)
          /stats/prometheus: print server stats in prometheus format

        """

    static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            query[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return (String(uri[..<mark]), query)
    }
}

/// `/stats` in Envoy's plain (`name: value`) and JSON forms.
enum StatsText {
    static func plain(_ samples: [StatSample], filter: String?) -> String {
        var out = ""
        for sample in samples {
            let name = sample.envoyName
            if let filter, !filter.isEmpty, !name.contains(filter) { continue }
            out += "\(name): \(sample.value)\n"
        }
        return out
    }

    static func json(_ samples: [StatSample]) -> String {
        let items = samples.map { "{\"name\":\"\(jsonEscape($0.envoyName))\",\"value\":\($0.value)}" }
        return "{\"stats\":[" + items.joined(separator: ",") + "]}"
    }
}


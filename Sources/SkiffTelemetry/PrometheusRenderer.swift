/// Renders merged samples in Prometheus text format with Envoy's names and tags.
///
/// Envoy's default tag extractors turn `cluster.backend.upstream_rq_2xx` into
/// `envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="backend"}`;
/// Skiff records the scope structurally, so it gets the same result without running regexes, and
/// cluster names containing dots (Istio's `outbound|80||svc.ns.svc.cluster.local`) stay intact.
public enum PrometheusRenderer {
    public static func render(_ samples: [StatSample]) -> String {
        var families: [String: (kind: StatSample.Kind, lines: [String])] = [:]
        var order: [String] = []
        for sample in samples {
            let (metric, labels) = prometheusName(sample)
            let line = labels.isEmpty
                ? "\(metric) \(sample.value)"
                : "\(metric){\(labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ","))} \(sample.value)"
            if families[metric] == nil {
                families[metric] = (sample.kind, [])
                order.append(metric)
            }
            families[metric]!.lines.append(line)
        }
        var out = ""
        for metric in order.sorted() {
            let family = families[metric]!
            out += "# TYPE \(metric) \(family.kind.rawValue)\n"
            for line in family.lines {
                out += line + "\n"
            }
        }
        return out
    }

    /// The metric name and labels Envoy's default tag extraction gives a sample.
    public static func prometheusName(_ sample: StatSample) -> (String, [(String, String)]) {
        var suffix = sample.suffix
        var labels: [(String, String)] = []
        if let base = sample.family.responseCodeBase, suffix.hasPrefix(base + "_") {
            let tail = suffix.dropFirst(base.count + 1)
            if tail.count == 3, tail.hasSuffix("xx"), let cls = tail.first, cls.isNumber {
                labels.append(("envoy_response_code_class", String(cls)))
                suffix = base + "_xx"
            } else if tail.count == 3, tail.allSatisfy(\.isNumber) {
                labels.append(("envoy_response_code", String(tail)))
                suffix = base
            }
        }
        if let label = sample.family.scopeLabel {
            labels.append((label, sample.scope))
        }
        // `http.<prefix>.rds.<route_config>.<stat>` → `envoy_http_rds_<stat>{..., envoy_rds_route_config=...}`
        // (the route config name may itself contain dots; the stat is the last component).
        if sample.family == .http, suffix.hasPrefix("rds."), let lastDot = suffix.lastIndex(of: "."),
           lastDot > suffix.index(suffix.startIndex, offsetBy: 3) {
            let name = suffix[suffix.index(suffix.startIndex, offsetBy: 4)..<lastDot]
            labels.append(("envoy_rds_route_config", String(name)))
            suffix = "rds_" + suffix[suffix.index(after: lastDot)...]
        }
        return (sanitize("envoy_\(sample.family.rawValue)_\(suffix)"), labels)
    }

    static func sanitize(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

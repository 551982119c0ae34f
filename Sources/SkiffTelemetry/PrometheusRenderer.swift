/// Renders merged samples in Prometheus text format exactly as Envoy's `/stats/prometheus` does.
///
/// Names go through Envoy's tag extraction (`TagProducer`, honouring `stats_config.stats_tags`):
/// `cluster.backend.upstream_rq_2xx` becomes
/// `envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="backend"}`.
/// Like Envoy: no `# HELP`, every series has braces (`{}` when untagged), counter families come
/// first, then gauges, then histograms (`_bucket` with cumulative counts and `le` last, `_sum`,
/// `_count`), each group sorted by metric name.
public enum PrometheusRenderer {
    public struct Options {
        /// `?usedonly`: only stats that have been written (non-zero, or a histogram with samples).
        public var usedOnly = false
        /// `?filter=`: only stats whose dotted name contains a match of this regex.
        public var filter: Regex<AnyRegexOutput>?

        public init(usedOnly: Bool = false, filter: Regex<AnyRegexOutput>? = nil) {
            self.usedOnly = usedOnly
            self.filter = filter
        }
    }

    public static func render(_ samples: [StatSample], tags: TagProducer = .defaults, options: Options = Options()) -> String {
        var families: [String: (kind: StatSample.Kind, lines: [String])] = [:]
        for sample in samples {
            if options.usedOnly, !sample.isUsed { continue }
            let dotted = sample.envoyName
            if let filter = options.filter, (try? filter.firstMatch(in: dotted)) == nil { continue }
            let (metric, tagged) = sample.family == .istio
                ? (sample.suffix, sample.labels.map { (name: $0.name, value: $0.value) })
                : series(dotted, tags: tags)
            let labels = tagged.map { "\($0.name)=\"\(escape($0.value))\"" }
            var lines = families[metric]?.lines ?? []
            if let kind = families[metric]?.kind, kind != sample.kind { continue }
            if let histogram = sample.histogram {
                let cumulative = histogram.cumulative
                for (index, bound) in histogram.bounds.enumerated() {
                    lines.append("\(metric)_bucket{\((labels + ["le=\"\(statNumber(bound))\""]).joined(separator: ","))} \(cumulative[index])")
                }
                lines.append("\(metric)_bucket{\((labels + ["le=\"+Inf\""]).joined(separator: ","))} \(histogram.count)")
                let braces = "{\(labels.joined(separator: ","))}"
                lines.append("\(metric)_sum\(braces) \(statNumber(histogram.sum))")
                lines.append("\(metric)_count\(braces) \(histogram.count)")
            } else {
                lines.append("\(metric){\(labels.joined(separator: ","))} \(sample.value)")
            }
            families[metric] = (sample.kind, lines)
        }
        var out = ""
        for kind in [StatSample.Kind.counter, .gauge, .histogram] {
            for (metric, family) in families.filter({ $0.value.kind == kind }).sorted(by: { $0.key < $1.key }) {
                out += "# TYPE \(metric) \(kind.rawValue)\n"
                for line in family.lines {
                    out += line + "\n"
                }
            }
        }
        return out
    }

    /// The Prometheus metric name and labels (names sanitized, values raw) of a dotted stat name.
    public static func series(_ dotted: String, tags: TagProducer = .defaults) -> (metric: String, labels: [(name: String, value: String)]) {
        let extracted = tags.extract(dotted)
        return ("envoy_" + sanitize(extracted.name), extracted.tags.map { (sanitize($0.name), $0.value) })
    }

    /// Envoy's `sanitizeName`: anything outside `[a-zA-Z0-9_]` becomes `_`.
    static func sanitize(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.map { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_": return scalar
            default: return "_"
            }
        }))
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

extension StatSample {
    /// Whether the stat has been written: Envoy's `usedonly` (approximated by a non-zero value).
    public var isUsed: Bool {
        if let histogram { return histogram.count > 0 }
        return value != 0
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// The bootstrap's `stats_config`: how stat names become Prometheus labels and which bucket bounds
/// each histogram uses. Fixed for the life of the process, as in Envoy (it is bootstrap-only).
public struct StatsConfig: Sendable {
    /// One `stats_tags` entry.
    public struct Tag: Sendable, Equatable {
        public enum Value: Sendable, Equatable {
            /// Envoy's tag extraction regex: the first capture group is cut from the name, the
            /// second (or the first, when there is only one) is the label's value.
            case regex(String)
            /// A label with this value on every stat.
            case fixed(String)
            /// Envoy's tokenized form (`cluster.$.**`): dot-separated tokens where `$` is the value
            /// (cut from the name with its dot), `*` any one token and a final `**` any rest.
            case tokens(String)
        }

        public var name: String
        public var value: Value
        /// No label when the value is exactly this (`listener.admin.*` stays untagged).
        public var unless: String?

        public init(name: String, value: Value, unless: String? = nil) {
            self.name = name
            self.value = value
            self.unless = unless
        }

        /// Why the tag's regex is unusable (it does not compile or has no capture group), or nil.
        public var problem: String? {
            guard case .regex(let pattern) = value else { return nil }
            do {
                _ = try Regex(pattern)
            } catch {
                return "invalid regex \"\(pattern)\": \(error)"
            }
            return Self.captureGroups(pattern) == 0 ? "regex \"\(pattern)\" needs a capture group for the tag value" : nil
        }

        /// Opening parentheses that start a capturing group (not `(?:`, `(?=`, escaped or in a class).
        static func captureGroups(_ pattern: String) -> Int {
            var count = 0
            var escaped = false
            var inClass = false
            let chars = Array(pattern)
            for (index, char) in chars.enumerated() {
                if escaped { escaped = false; continue }
                switch char {
                case "\\": escaped = true
                case "[": inClass = true
                case "]": inClass = false
                case "(" where !inClass:
                    if index + 1 >= chars.count || chars[index + 1] != "?" { count += 1 }
                default: break
                }
            }
            return count
        }
    }

    /// Envoy's default tag extractors (`use_all_default_tags`), in Envoy's order, for the stat
    /// names Skiff emits. Checked against Envoy 1.40's own `/stats/prometheus` by a test.
    public static let defaultTags: [Tag] = {
        let address = #"(?:\d{1,3}(?:\.\d{1,3}){3}_\d+|\[[_aAbBcCdDeEfF[:digit:]]+\]_\d+)"#
        return [
            Tag(name: "envoy.response_code", value: .regex(#"_rq(_(\d{3}))$"#)),
            Tag(name: "envoy.response_code_class", value: .regex(#"_rq_(\d)xx$"#)),
            Tag(name: "envoy.http_user_agent", value: .regex(#"^http(?=\.).*?\.user_agent\.((.*?)\.)\w+?$"#)),
            Tag(name: "envoy.fault_downstream_cluster", value: .regex(#"^http(?=\.).*?\.fault\.((.*?)\.)\w+?$"#)),
            Tag(name: "envoy.ssl_cipher", value: .regex(#"^listener(?=\.).*?\.ssl\.cipher(\.(.*?))$"#)),
            Tag(name: "envoy.ssl_cipher_suite", value: .regex(#"^cluster(?=\.).*?\.ssl\.ciphers(\.(.*?))$"#)),
            Tag(name: "envoy.tcp_prefix", value: .regex(#"^tcp\.((.*?)\.)\w+?$"#)),
            Tag(name: "envoy.cluster_name", value: .tokens("cluster.$.**")),
            Tag(name: "envoy.http_conn_manager_prefix", value: .regex(#"^(?:|listener(?=\.).*?\.)http\.((.*?)\.)"#)),
            Tag(name: "envoy.listener_address", value: .regex(#"^listener\.((\#(address)|[^.]+)\.)"#), unless: "admin"),
            Tag(name: "envoy.rds_route_config", value: .regex(#"^http(?=\.).*?\.rds\.((.*?)\.)\w+?$"#)),
            Tag(name: "envoy.worker_id", value: .regex(#"^(?:listener(?=\.).*?|server|thread_local_cluster_manager)\.worker_((\d+)\.)"#)),
            Tag(name: "envoy.local_http_ratelimit_prefix", value: .tokens("$.http_local_rate_limit.**")),
            Tag(name: "envoy.rbac_prefix", value: .tokens("$.rbac.**")),
        ]
    }()

    /// One `histogram_bucket_settings` entry: the first rule whose matcher accepts a histogram's
    /// dotted name gives its bucket bounds (milliseconds for Envoy's timing histograms).
    public struct BucketRule: Sendable {
        public var match: HeaderMatcher.Rule
        public var buckets: [Double]

        public init(match: HeaderMatcher.Rule, buckets: [Double]) {
            self.match = match
            self.buckets = buckets
        }
    }

    /// Envoy's default histogram bounds.
    public static let defaultBuckets: [Double] = [
        0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
    ]

    /// `stats_matcher`: which stats exist at all (matched on the dotted name).
    public enum Matcher: Sendable {
        case all
        case rejectAll
        case include([HeaderMatcher.Rule])
        case exclude([HeaderMatcher.Rule])

        public func admits(_ name: String) -> Bool {
            switch self {
            case .all: return true
            case .rejectAll: return false
            case .include(let rules): return rules.contains { $0.matches(name) }
            case .exclude(let rules): return !rules.contains { $0.matches(name) }
            }
        }
    }

    public var matcher: Matcher = .all

    /// Custom tags, in bootstrap order; applied after the default ones.
    public var tags: [Tag]
    /// `use_all_default_tags` (default true): Envoy's built-in extractors (cluster name, response
    /// code, listener address, ...). Istio turns them off and supplies its own.
    public var useDefaultTags: Bool
    public var bucketRules: [BucketRule]

    public init(tags: [Tag] = [], useDefaultTags: Bool = true, bucketRules: [BucketRule] = []) {
        self.tags = tags
        self.useDefaultTags = useDefaultTags
        self.bucketRules = bucketRules
    }

    /// The bucket bounds for the histogram named `name` (dotted, e.g. `cluster.a.upstream_rq_time`).
    public func buckets(for name: String) -> [Double] {
        for rule in bucketRules where rule.match.matches(name) {
            return rule.buckets
        }
        return Self.defaultBuckets
    }
}

extension HeaderMatcher.Rule {
    /// Whether `value` satisfies the rule (`present` rules ignore the value).
    public func matches(_ value: String) -> Bool {
        switch self {
        case .exact(let s, let ignoreCase):
            return ignoreCase ? value.lowercased() == s.lowercased() : value == s
        case .prefix(let s, let ignoreCase):
            return ignoreCase ? value.lowercased().hasPrefix(s.lowercased()) : value.hasPrefix(s)
        case .suffix(let s, let ignoreCase):
            return ignoreCase ? value.lowercased().hasSuffix(s.lowercased()) : value.hasSuffix(s)
        case .contains(let s, let ignoreCase):
            return ignoreCase ? value.lowercased().contains(s.lowercased()) : value.contains(s)
        case .regex(let regex):
            return regex.matches(value)
        case .present(let wanted):
            return wanted
        }
    }
}

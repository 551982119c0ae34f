/// Skiff's tail decision (beyond Envoy): spans of requests head sampling dropped are kept anyway
/// when the request failed or was slow, since the proxy sees the outcome. Set from the command
/// line (`--trace-keep-failed`, `--trace-keep-slower-than-ms`); Envoy's API has no field for it.
public struct TailSampling: Sendable, Equatable {
    /// Keep the span of a request answered 5xx, or reset before a response.
    public var keepFailed: Bool
    /// Keep the span of a request that took at least this long (nanoseconds).
    public var keepSlowerThanNanos: UInt64?

    public init(keepFailed: Bool = false, keepSlowerThanNanos: UInt64? = nil) {
        self.keepFailed = keepFailed
        self.keepSlowerThanNanos = keepSlowerThanNanos
    }

    public var isEnabled: Bool { keepFailed || keepSlowerThanNanos != nil }

    public func keeps(failed: Bool, durationNanos: UInt64) -> Bool {
        if keepFailed, failed { return true }
        if let threshold = keepSlowerThanNanos, durationNanos >= threshold { return true }
        return false
    }
}

/// The connection manager's `tracing`: which tracer gets a span per request and how requests are
/// sampled. Envoy's semantics: `client_sampling` applies to requests carrying
/// `x-client-trace-id`, `random_sampling` to the rest, `overall_sampling` caps both afterwards;
/// all three default to 100 %.
public struct TracingConfig: Sendable, Equatable {
    public enum Provider: Sendable, Hashable {
        /// `envoy.tracers.opentelemetry`: OTLP over gRPC to a cluster; spans carry `service.name`.
        case openTelemetry(cluster: String, authority: String?, serviceName: String)
        /// `envoy.tracers.zipkin`: Zipkin v2 JSON POSTed to `endpoint` on a cluster.
        case zipkin(cluster: String, endpoint: String, hostname: String?, sharedSpanContext: Bool, traceID128: Bool)

        /// The collector cluster.
        public var cluster: String {
            switch self {
            case .openTelemetry(let cluster, _, _): return cluster
            case .zipkin(let cluster, _, _, _, _): return cluster
            }
        }

        /// W3C `traceparent` for OpenTelemetry, B3 for Zipkin.
        public var usesB3: Bool {
            if case .zipkin = self { return true }
            return false
        }
    }

    public var provider: Provider
    /// Percentages, 0...100.
    public var randomSampling: Double = 100
    public var clientSampling: Double = 100
    public var overallSampling: Double = 100
    /// `max_path_tag_length` (Envoy's default 256): the URL attribute is cut to this.
    public var maxPathTagLength: Int = 256
    /// `custom_tags` with a literal value (`literal.value`): added to every span.
    public var literalTags: [(String, String)] = []
    /// `custom_tags` from a request header (`request_header.name`, `default_value`).
    public var headerTags: [(tag: String, header: String, defaultValue: String?)] = []
    /// Ingress or egress, from the listener's `traffic_direction` (the span's kind and name).
    public var egress = false

    public init(provider: Provider) {
        self.provider = provider
    }

    public static func == (a: TracingConfig, b: TracingConfig) -> Bool {
        a.provider == b.provider && a.randomSampling == b.randomSampling && a.clientSampling == b.clientSampling
            && a.overallSampling == b.overallSampling && a.maxPathTagLength == b.maxPathTagLength
            && a.literalTags.elementsEqual(b.literalTags) { $0 == $1 }
            && a.headerTags.elementsEqual(b.headerTags) { $0.tag == $1.tag && $0.header == $1.header && $0.defaultValue == $1.defaultValue }
            && a.egress == b.egress
    }
}

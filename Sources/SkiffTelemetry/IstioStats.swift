import SkiffCore

/// Istio's standard metrics (`istio.stats`), per worker: `istio_requests_total`,
/// `istio_request_duration_milliseconds`, `istio_request_bytes`, `istio_response_bytes`, and for
/// TCP `istio_tcp_connections_opened_total` / `_closed_total`, `istio_tcp_sent_bytes_total`,
/// `istio_tcp_received_bytes_total`, with Istio's labels.
///
/// A series is one combination of labels; the table is bounded (`maxSeries` per worker and
/// kind): past it a request is counted in `overflow`, never a new series, so a peer sending
/// random metadata cannot grow memory without limit.
public final class IstioStats {
    /// Istio's labels, in the order Istio emits them.
    public struct Labels: Hashable, Sendable {
        public var reporter: IstioReporter
        public var source: IstioMetadata
        public var sourcePrincipal: String
        public var destination: IstioMetadata
        public var destinationPrincipal: String
        public var destinationService: String
        public var destinationServiceName: String
        public var destinationServiceNamespace: String
        public var requestProtocol: String
        public var responseCode: String
        public var grpcResponseStatus: String
        public var responseFlags: String
        public var connectionSecurityPolicy: String

        public init(
            reporter: IstioReporter, source: IstioMetadata, sourcePrincipal: String, destination: IstioMetadata,
            destinationPrincipal: String, destinationService: String, destinationServiceName: String,
            destinationServiceNamespace: String, requestProtocol: String, responseCode: String, grpcResponseStatus: String,
            responseFlags: String, connectionSecurityPolicy: String
        ) {
            self.reporter = reporter
            self.source = source
            self.sourcePrincipal = sourcePrincipal
            self.destination = destination
            self.destinationPrincipal = destinationPrincipal
            self.destinationService = destinationService
            self.destinationServiceName = destinationServiceName
            self.destinationServiceNamespace = destinationServiceNamespace
            self.requestProtocol = requestProtocol
            self.responseCode = responseCode
            self.grpcResponseStatus = grpcResponseStatus
            self.responseFlags = responseFlags
            self.connectionSecurityPolicy = connectionSecurityPolicy
        }

        /// Prometheus labels; TCP series have no request-level ones.
        func rendered(tcp: Bool) -> [StatLabel] {
            var out: [(String, String)] = [
                ("reporter", reporter.rawValue),
                ("source_workload", source.workload), ("source_canonical_service", source.canonicalService),
                ("source_canonical_revision", source.canonicalRevision), ("source_workload_namespace", source.namespace),
                ("source_principal", sourcePrincipal), ("source_app", source.app), ("source_version", source.version),
                ("source_cluster", source.cluster),
                ("destination_workload", destination.workload), ("destination_workload_namespace", destination.namespace),
                ("destination_principal", destinationPrincipal), ("destination_app", destination.app),
                ("destination_version", destination.version), ("destination_service", destinationService),
                ("destination_canonical_service", destination.canonicalService),
                ("destination_canonical_revision", destination.canonicalRevision),
                ("destination_service_name", destinationServiceName), ("destination_service_namespace", destinationServiceNamespace),
                ("destination_cluster", destination.cluster),
            ]
            if !tcp {
                out += [("request_protocol", requestProtocol), ("response_code", responseCode), ("grpc_response_status", grpcResponseStatus)]
            } else {
                out.append(("request_protocol", "tcp"))
            }
            out += [("response_flags", responseFlags), ("connection_security_policy", connectionSecurityPolicy)]
            return out.map { StatLabel(name: $0.0, value: $0.1) }
        }
    }

    struct RequestCells {
        var count: UInt64 = 0
        var duration: HistogramCells
        var requestBytes: HistogramCells
        var responseBytes: HistogramCells
    }

    struct TCPCells {
        var opened: UInt64 = 0
        var closed: UInt64 = 0
        var sent: UInt64 = 0
        var received: UInt64 = 0
    }

    public static let maxSeries = 10_000
    private var requests: [Labels: RequestCells] = [:]
    private var tcp: [Labels: TCPCells] = [:]
    /// Reports refused because the table was full.
    public private(set) var overflow: UInt64 = 0
    private let config: StatsConfig

    public init(config: StatsConfig = StatsConfig()) {
        self.config = config
    }

    public func recordRequest(_ labels: Labels, durationMs: UInt64, requestBytes: UInt64, responseBytes: UInt64) {
        if requests[labels] == nil {
            guard requests.count < Self.maxSeries else {
                overflow &+= 1
                return
            }
            requests[labels] = RequestCells(
                duration: HistogramCells(bounds: config.buckets(for: "istio_request_duration_milliseconds")),
                requestBytes: HistogramCells(bounds: config.buckets(for: "istio_request_bytes")),
                responseBytes: HistogramCells(bounds: config.buckets(for: "istio_response_bytes"))
            )
        }
        requests[labels]!.count &+= 1
        requests[labels]!.duration.record(durationMs)
        requests[labels]!.requestBytes.record(requestBytes)
        requests[labels]!.responseBytes.record(responseBytes)
    }

    public func recordTCPOpened(_ labels: Labels) {
        guard reserveTCP(labels) else { return }
        tcp[labels]!.opened &+= 1
    }

    public func recordTCPClosed(_ labels: Labels, sent: UInt64, received: UInt64) {
        guard reserveTCP(labels) else { return }
        tcp[labels]!.closed &+= 1
        tcp[labels]!.sent &+= sent
        tcp[labels]!.received &+= received
    }

    private func reserveTCP(_ labels: Labels) -> Bool {
        if tcp[labels] != nil { return true }
        guard tcp.count < Self.maxSeries else {
            overflow &+= 1
            return false
        }
        tcp[labels] = TCPCells()
        return true
    }

    /// This worker's series, for merging across workers.
    public func samples() -> [StatSample] {
        var out: [StatSample] = []
        for (labels, cells) in requests {
            let rendered = labels.rendered(tcp: false)
            out.append(.istio("istio_requests_total", .counter, rendered, value: Int64(cells.count)))
            out.append(.istio("istio_request_duration_milliseconds", .histogram, rendered, histogram: cells.duration.value))
            out.append(.istio("istio_request_bytes", .histogram, rendered, histogram: cells.requestBytes.value))
            out.append(.istio("istio_response_bytes", .histogram, rendered, histogram: cells.responseBytes.value))
        }
        for (labels, cells) in tcp {
            let rendered = labels.rendered(tcp: true)
            out.append(.istio("istio_tcp_connections_opened_total", .counter, rendered, value: Int64(cells.opened)))
            out.append(.istio("istio_tcp_connections_closed_total", .counter, rendered, value: Int64(cells.closed)))
            out.append(.istio("istio_tcp_sent_bytes_total", .counter, rendered, value: Int64(cells.sent)))
            out.append(.istio("istio_tcp_received_bytes_total", .counter, rendered, value: Int64(cells.received)))
        }
        return out
    }
}

@available(*, unavailable)
extension IstioStats: Sendable {}

/// A Prometheus label on a stat that carries its own (Istio's metrics).
public struct StatLabel: Sendable, Equatable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

extension StatSample {
    /// An Istio metric: its Prometheus name as is (no `envoy_` prefix, no tag extraction) and its
    /// labels; the dotted name carries the labels so series merge across workers by name.
    static func istio(_ metric: String, _ kind: Kind, _ labels: [StatLabel], value: Int64 = 0, histogram: HistogramValue? = nil) -> StatSample {
        var sample = StatSample(family: .istio, scope: "", suffix: metric, kind: kind, value: value)
        sample.labels = labels
        sample.histogram = histogram
        return sample
    }
}

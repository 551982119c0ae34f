import NIOHTTP1
import SkiffCore
import SkiffTelemetry

/// `istio.stats`: a finished request counted in Istio's standard metrics with Istio's labels.
///
/// This workload's side comes from `node.metadata`; the peer's from the `x-envoy-peer-metadata`
/// header Istio's metadata exchange sends (inbound: the caller's), or else from its SPIFFE
/// identity (namespace) and `unknown`. The destination service of an outbound request is the
/// host in the cluster's Istio name (`outbound|80||reviews.default.svc.cluster.local`); of an
/// inbound one, the request's authority.
extension RouterStream {
    /// Istio's metadata exchange over HTTP headers: an outbound request carries this workload's
    /// metadata to the destination's sidecar; an inbound response carries it back to the caller's.
    /// The receiving sidecar reads it for its labels and removes it, so applications never see it.
    func exchangeIstioMetadata(_ reporter: IstioReporter, request headers: inout HTTPHeaders) {
        switch reporter {
        case .source:
            headers.replaceOrAdd(name: PeerMetadata.header, value: worker.localIstioHeader)
            headers.replaceOrAdd(name: PeerMetadata.idHeader, value: worker.nodeID)
        case .destination:
            headers.remove(name: PeerMetadata.header)
            headers.remove(name: PeerMetadata.idHeader)
        }
    }

    func exchangeIstioMetadata(_ reporter: IstioReporter, response headers: inout HTTPHeaders) {
        switch reporter {
        case .source:
            istioUpstreamPeer = PeerMetadata.decode(headers.first(name: PeerMetadata.header))
            headers.remove(name: PeerMetadata.header)
            headers.remove(name: PeerMetadata.idHeader)
        case .destination:
            headers.replaceOrAdd(name: PeerMetadata.header, value: worker.localIstioHeader)
            headers.replaceOrAdd(name: PeerMetadata.idHeader, value: worker.nodeID)
        }
    }

    func recordIstio(_ reporter: IstioReporter, _ record: AccessLogRecord) {
        let local = worker.localIstio
        let peer = PeerMetadata.decode(request.headers.first(name: PeerMetadata.header))
        let isGRPCRequest = request.headers.first(name: "content-type")?.hasPrefix("application/grpc") ?? false
        let grpcStatus = record.responseTrailers?.first(name: "grpc-status") ?? record.responseHeaders?.first(name: "grpc-status")
        let service: (String, String, String)
        switch reporter {
        case .source:
            service = IstioServiceName.fromCluster(record.upstreamCluster) ?? IstioServiceName.fromHost(record.authority, namespace: "unknown")
        case .destination:
            service = IstioServiceName.fromHost(record.authority, namespace: local.namespace)
        }
        let source: IstioMetadata, destination: IstioMetadata
        let sourcePrincipal: String, destinationPrincipal: String, policy: String
        switch reporter {
        case .destination:
            source = peer ?? IstioMetadata.fromPrincipal(record.peerURISAN)
            sourcePrincipal = record.peerURISAN ?? "unknown"
            destination = local
            destinationPrincipal = record.localURISAN ?? "unknown"
            policy = record.peerURISAN != nil ? "mutual_tls" : "none"
        case .source:
            source = local
            sourcePrincipal = "unknown"
            destination = istioUpstreamPeer ?? IstioMetadata()
            destinationPrincipal = "unknown"
            policy = "unknown"
        }
        let labels = IstioStats.Labels(
            reporter: reporter, source: source, sourcePrincipal: sourcePrincipal, destination: destination,
            destinationPrincipal: destinationPrincipal, destinationService: service.0, destinationServiceName: service.1,
            destinationServiceNamespace: service.2, requestProtocol: isGRPCRequest ? "grpc" : "http",
            responseCode: String(record.responseCode), grpcResponseStatus: isGRPCRequest ? (grpcStatus ?? "") : "",
            responseFlags: record.responseFlags.isEmpty ? "-" : record.responseFlags.map(\.rawValue).joined(separator: ","),
            connectionSecurityPolicy: policy
        )
        worker.istio.recordRequest(
            labels, durationMs: (record.durationNanos ?? 0) / 1_000_000,
            requestBytes: UInt64(record.bytesReceived), responseBytes: UInt64(record.bytesSent)
        )
    }
}

import NIOCore
import SkiffUpstream

extension RouterStream {
    /// Where an `ORIGINAL_DST` cluster sends this request: the `use_http_header` header's
    /// address when present and valid, else the connection's restored original destination.
    func originalDestination(for cluster: UpstreamCluster) -> SocketAddress? {
        if let settings = cluster.config.originalDst, settings.useHTTPHeader,
           let value = request.headers.first(name: settings.headerName),
           let address = UpstreamCluster.originalDestination(header: value) {
            return address
        }
        return connection.originalDestination
    }
}

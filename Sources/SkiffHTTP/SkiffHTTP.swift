import NIOHTTP1
import SkiffRouting

/// SkiffHTTP owns the HTTP side of a downstream connection: the HTTP/1.1 codec wiring, the
/// connection manager (`envoy.filters.network.http_connection_manager`), the router that turns one
/// downstream request into one upstream exchange, header transforms and local replies.
///
/// A downstream connection, its current stream and the upstream connection serving it share one
/// event loop, so forwarding is direct method calls: no locks, tasks or queues. Back-pressure is
/// explicit: each side holds reads while the other side's write buffer is above its high water
/// mark, so a slow reader never makes the proxy buffer without bound.
public enum SkiffHTTP {}

extension HTTPHeaders: RequestHeaderView {
    public func values(forHeader name: String) -> [String] {
        self[name]
    }
}

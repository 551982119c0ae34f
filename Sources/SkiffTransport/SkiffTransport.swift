/// SkiffTransport owns sockets: binding listeners on every worker, choosing a filter chain for an
/// accepted connection, building its pipeline (HTTP connection manager or TCP proxy), and the L4
/// byte pump of `envoy.filters.network.tcp_proxy`.
public enum SkiffTransport {}

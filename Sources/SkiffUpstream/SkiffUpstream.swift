/// SkiffUpstream owns everything between "this request goes to cluster X" and a connected upstream
/// socket: the per-worker cluster manager, host sets, load balancers, HTTP/1.1 connection pools and
/// DNS resolution of STRICT_DNS / LOGICAL_DNS clusters.
///
/// Every object here except `EndpointResolver` is confined to one event loop (a worker): pools are
/// per loop per host, so picking a host and reusing a connection take no lock. The control plane
/// changes a worker's clusters only by running `ClusterManager.apply` on that worker's loop.
public enum SkiffUpstream {}

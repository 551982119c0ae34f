import NIOCore
import NIOPosix
import SkiffCore
import SkiffTelemetry

extension UpstreamCluster {
    /// A bootstrap for this cluster's upstream connections: its loop, `connect_timeout`,
    /// TCP_NODELAY and `upstream_bind_config` source address.
    public func clientBootstrap() -> ClientBootstrap {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(config.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        if let source = config.upstreamBindAddress, let address = try? SocketAddress(ipAddress: source, port: 0) {
            return bootstrap.bind(to: address)
        }
        return bootstrap
    }

    /// An `ORIGINAL_DST` cluster's host for `destination` (nil: no destination was restored, or
    /// the cluster holds `maxHosts` destinations that are all in use). Hosts are made on first
    /// use and dropped once unused for `cleanup_interval`; other clusters pick as configured.
    public func pickHost(random: inout FastRandom, originalDestination destination: SocketAddress?) -> UpstreamHost? {
        guard let settings = config.originalDst else { return pickHost(random: &random) }
        guard var address = destination else {
            stats.increment(ClusterStat.cxNoneHealthy)
            return nil
        }
        if let port = settings.portOverride {
            address.port = port
        }
        let now = ContinuousClockReading.now()
        let interval = UInt64(settings.cleanupInterval.nanoseconds)
        if now &- originalDstLastSweep >= interval {
            sweepOriginalDestinations(now: now, interval: interval)
        }
        if let known = originalDstHosts[address] {
            known.lastUsed = now
            return known.host
        }
        if originalDstHosts.count >= settings.maxHosts {
            sweepOriginalDestinations(now: now, interval: interval)
            guard originalDstHosts.count < settings.maxHosts else {
                stats.increment(ClusterStat.cxNoneHealthy)
                return nil
            }
        }
        let host = UpstreamHost(address: address, weight: 1)
        host.tls = config.tls
        originalDstHosts[address] = OriginalDstEntry(host: host, lastUsed: now)
        return host
    }

    /// Envoy's cleanup: a destination not picked since the previous sweep, with nothing in
    /// flight, leaves (its idle pooled connections close).
    func sweepOriginalDestinations(now: UInt64, interval: UInt64) {
        originalDstLastSweep = now
        for (address, entry) in originalDstHosts where now &- entry.lastUsed >= interval && entry.host.activeRequests == 0 {
            originalDstHosts.removeValue(forKey: address)
            dropPools(of: entry.host)
        }
    }

    /// The header override of `use_http_header`: "ip:port" (IPv6 in brackets); nil when absent
    /// or not an address.
    public static func originalDestination(header value: String) -> SocketAddress? {
        guard let colon = value.lastIndex(of: ":") else { return nil }
        var host = String(value[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(value[value.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return try? SocketAddress(ipAddress: host, port: port)
    }
}

/// One on-demand destination of an `ORIGINAL_DST` cluster and when it was last picked.
final class OriginalDstEntry {
    let host: UpstreamHost
    var lastUsed: UInt64

    init(host: UpstreamHost, lastUsed: UInt64) {
        self.host = host
        self.lastUsed = lastUsed
    }
}

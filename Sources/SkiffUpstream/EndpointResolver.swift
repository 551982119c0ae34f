import NIOCore
import NIOPosix
import SkiffCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a cluster's configured endpoints into socket addresses (control plane, off the data path).
///
/// STATIC endpoints must be IP literals. STRICT_DNS resolves every endpoint's name and uses every
/// address returned; LOGICAL_DNS uses the first address only, as Envoy does. Resolution runs on
/// NIO's blocking thread pool so no event loop ever waits on DNS.
public enum EndpointResolver {
    /// Resolves without blocking the caller's event loop.
    public static func resolve(_ cluster: ClusterConfig, threadPool: NIOThreadPool = .singleton) async throws -> [ResolvedEndpoint] {
        if cluster.discovery == .staticHosts || cluster.discovery == .eds || cluster.discovery == .originalDst {
            return try resolveStatic(cluster)
        }
        return try await threadPool.runIfActive {
            try resolveBlocking(cluster)
        }
    }

    /// STATIC endpoints: IP literals, parsed without any lookup.
    public static func resolveStatic(_ cluster: ClusterConfig) throws -> [ResolvedEndpoint] {
        try cluster.endpoints.map { endpoint in
            if let path = endpoint.address.pipePath {
                return ResolvedEndpoint(address: try SocketAddress(unixDomainSocketPath: path), weight: endpoint.weight, status: endpoint.status, socketMatch: endpoint.socketMatch)
            }
            return ResolvedEndpoint(
                address: try SocketAddress(ipAddress: endpoint.address.host, port: endpoint.address.port),
                weight: endpoint.weight, status: endpoint.status, socketMatch: endpoint.socketMatch
            )
        }
    }

    static func resolveBlocking(_ cluster: ClusterConfig) throws -> [ResolvedEndpoint] {
        var out: [ResolvedEndpoint] = []
        var firstError: (any Error)?
        for endpoint in cluster.endpoints {
            do {
                var addresses = try lookup(endpoint.address.host, port: endpoint.address.port, family: cluster.dnsLookupFamily)
                if cluster.discovery == .logicalDNS {
                    addresses = Array(addresses.prefix(1))
                }
                for address in addresses where !out.contains(where: { $0.address == address }) {
                    out.append(ResolvedEndpoint(address: address, weight: endpoint.weight, status: endpoint.status, socketMatch: endpoint.socketMatch))
                }
            } catch {
                firstError = firstError ?? error
            }
        }
        if out.isEmpty, let firstError {
            throw firstError
        }
        return out
    }

    /// getaddrinfo, filtered and ordered by `dns_lookup_family`.
    static func lookup(_ host: String, port: Int, family: ClusterConfig.DNSLookupFamily) throws -> [SocketAddress] {
        if let literal = try? SocketAddress(ipAddress: host, port: port) {
            return [literal]
        }
        var hints = addrinfo()
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        switch family {
        case .v4Only: hints.ai_family = AF_INET
        case .v6Only: hints.ai_family = AF_INET6
        default: hints.ai_family = AF_UNSPEC
        }
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw ResolveError(host: host, code: rc)
        }
        defer { freeaddrinfo(first) }
        var v4: [SocketAddress] = []
        var v6: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let sa = info.pointee.ai_addr {
                if info.pointee.ai_family == AF_INET {
                    let address = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
                    if !v4.contains(address) { v4.append(address) }
                } else if info.pointee.ai_family == AF_INET6 {
                    let address = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
                    if !v6.contains(address) { v6.append(address) }
                }
            }
            cursor = info.pointee.ai_next
        }
        switch family {
        case .v4Only: return v4
        case .v6Only: return v6
        case .v4Preferred: return v4.isEmpty ? v6 : v4
        case .auto: return v6.isEmpty ? v4 : v6
        case .all: return v4 + v6
        }
    }

    public struct ResolveError: Error, CustomStringConvertible {
        public var host: String
        public var code: Int32
        public var description: String { "DNS resolution of \(host) failed (getaddrinfo \(code))" }
    }
}

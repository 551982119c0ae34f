#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// The address a connection was sent to before iptables redirected it (`SO_ORIGINAL_DST`), as
/// `envoy.filters.listener.original_dst` reads it.
///
/// An `iptables -t nat ... -j REDIRECT` rewrites the destination of a pod's connection to the
/// sidecar's port; the kernel's connection tracking still knows where it was going, and
/// `getsockopt(SOL_IP, SO_ORIGINAL_DST)` (IPv6: `SOL_IPV6`, `IP6T_SO_ORIGINAL_DST`) returns it.
/// A connection that was not redirected answers with its own local address or an error (no
/// conntrack entry): nil then, and the connection keeps the address it was accepted on.
public enum OriginalDestination {
    /// `SO_ORIGINAL_DST` and `IP6T_SO_ORIGINAL_DST` (linux/netfilter_ipv4.h, netfilter_ipv6/ip6_tables.h).
    static let optionName: Int32 = 80
    static let levelIPv4: Int32 = 0  // SOL_IP
    static let levelIPv6: Int32 = 41  // SOL_IPV6

    /// Reads the original destination of an accepted connection; call on its event loop.
    public static func read(_ channel: any Channel) -> SocketAddress? {
        guard let provider = channel as? any SocketOptionProvider, let local = channel.localAddress else { return nil }
        switch local {
        case .v4:
            return readV4(provider)
        case .v6:
            // An IPv4 connection on a dual-stack socket is tracked as IPv4.
            let future: EventLoopFuture<sockaddr_in6> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(levelIPv6), name: SocketOptionName(optionName)
            )
            return completed(future).map(address(v6:)) ?? readV4(provider)
        default:
            return nil
        }
    }

    static func readV4(_ provider: any SocketOptionProvider) -> SocketAddress? {
        let future: EventLoopFuture<sockaddr_in> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(levelIPv4), name: SocketOptionName(optionName)
        )
        return completed(future).flatMap(address(v4:))
    }

    /// On the channel's loop the option is read synchronously: the future is already complete
    /// and its callback runs at once.
    static func completed<Value>(_ future: EventLoopFuture<Value>) -> Value? {
        var value: Value?
        future.assumeIsolatedUnsafeUnchecked().whenSuccess { value = $0 }
        return value
    }

    static func address(v4 raw: sockaddr_in) -> SocketAddress? {
        guard raw.sin_family == sa_family_t(AF_INET), let host = text(AF_INET, raw.sin_addr) else { return nil }
        return SocketAddress(raw, host: host)
    }

    static func address(v6 raw: sockaddr_in6) -> SocketAddress? {
        guard raw.sin6_family == sa_family_t(AF_INET6), let host = text(AF_INET6, raw.sin6_addr) else { return nil }
        return SocketAddress(raw, host: host)
    }

    /// `inet_ntop` of an `in_addr` / `in6_addr`.
    static func text<Address>(_ family: Int32, _ address: Address) -> String? {
        var address = address
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

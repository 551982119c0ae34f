import SkiffCore

/// Chooses the filter chain for an accepted connection (`FilterChainMatch`), as Envoy does: the
/// criteria are applied in order — `destination_port`, `prefix_ranges`, `server_names`,
/// `transport_protocol`, `application_protocols`, `source_type`, `source_prefix_ranges`,
/// `source_ports` — and at each step the chains that name the connection's value
/// specifically win over chains that leave the criterion empty; chains that name another value
/// drop out. Nil means no chain applies and the connection is closed
/// (`listener.<addr>.no_filter_chain_match`).
public enum FilterChainSelector {
    /// What is known about a connection when its chain is chosen.
    public struct Connection: Sendable {
        public var localPort: Int?
        /// `tls` when the TLS inspector saw a ClientHello, else `raw_buffer`.
        public var transportProtocol: String
        public var serverName: String?
        public var alpn: [String]
        /// The destination IP (the original destination after `original_dst`) and the peer's.
        public var localIP: String?
        public var remoteIP: String?
        public var remotePort: Int?

        public init(
            localPort: Int?, transportProtocol: String = "raw_buffer", serverName: String? = nil, alpn: [String] = [],
            localIP: String? = nil, remoteIP: String? = nil, remotePort: Int? = nil
        ) {
            self.localPort = localPort
            self.localIP = localIP
            self.remoteIP = remoteIP
            self.remotePort = remotePort
            self.transportProtocol = transportProtocol
            self.serverName = serverName
            self.alpn = alpn
        }
    }

    /// The `default_filter_chain` takes what no chain matches.
    public static func select(_ chains: [FilterChainConfig], connection: Connection) -> FilterChainConfig? {
        // The common listener: one chain that matches everything (no per-connection narrowing).
        if chains.count == 1, let only = chains.first, only.isDefault || matchesAll(only) { return only }
        return matching(chains.filter { !$0.isDefault }, connection: connection) ?? chains.first(where: \.isDefault)
    }

    static func matching(_ chains: [FilterChainConfig], connection: Connection) -> FilterChainConfig? {
        var candidates = chains
        candidates = narrow(candidates) { chain in
            guard let port = chain.destinationPort else { return .unset }
            return port == connection.localPort ? .exact : .mismatch
        }
        candidates = narrowByRange(candidates, connection.localIP, \.prefixRanges)
        candidates = narrowByServerName(candidates, connection.serverName)
        candidates = narrow(candidates) { chain in
            guard let wanted = chain.transportProtocol else { return .unset }
            return wanted == connection.transportProtocol ? .exact : .mismatch
        }
        candidates = narrow(candidates) { chain in
            guard !chain.applicationProtocols.isEmpty else { return .unset }
            return chain.applicationProtocols.contains(where: connection.alpn.contains) ? .exact : .mismatch
        }
        candidates = narrow(candidates) { chain in
            switch chain.sourceType {
            case .any: return .unset
            case .local: return isLocal(connection) ? .exact : .mismatch
            case .external: return isLocal(connection) ? .mismatch : .exact
            }
        }
        candidates = narrowByRange(candidates, connection.remoteIP, \.sourcePrefixRanges)
        candidates = narrow(candidates) { chain in
            guard !chain.sourcePorts.isEmpty else { return .unset }
            return connection.remotePort.map(chain.sourcePorts.contains) == true ? .exact : .mismatch
        }
        return candidates.first
    }

    static func matchesAll(_ chain: FilterChainConfig) -> Bool {
        chain.destinationPort == nil && chain.serverNames.isEmpty && chain.transportProtocol == nil && chain.applicationProtocols.isEmpty
            && chain.prefixRanges.isEmpty && chain.sourcePrefixRanges.isEmpty && chain.sourceType == .any && chain.sourcePorts.isEmpty
    }

    /// Envoy's SAME_IP_OR_LOOPBACK: the peer is on this machine.
    static func isLocal(_ connection: Connection) -> Bool {
        guard let remote = connection.remoteIP, let bytes = IPBytes.parse(remote) else { return false }
        if bytes.count == 4, bytes[0] == 127 { return true }
        if bytes.count == 16, bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
        return connection.localIP.flatMap(IPBytes.parse) == bytes
    }

    /// The chains whose longest range containing `ip` is the longest of all win; chains without
    /// ranges apply only when no range contains it.
    static func narrowByRange(_ chains: [FilterChainConfig], _ ip: String?, _ ranges: KeyPath<FilterChainConfig, [CIDRRange]>) -> [FilterChainConfig] {
        guard chains.contains(where: { !$0[keyPath: ranges].isEmpty }) else { return chains }
        var best = -1
        var winners: [FilterChainConfig] = []
        for chain in chains {
            guard let ip, let length = chain[keyPath: ranges].filter({ $0.contains(ip) }).map(\.prefixLength).max() else { continue }
            if length > best {
                best = length
                winners = [chain]
            } else if length == best {
                winners.append(chain)
            }
        }
        if !winners.isEmpty { return winners }
        return chains.filter { $0[keyPath: ranges].isEmpty }
    }

    enum Fit { case exact, unset, mismatch }

    static func narrow(_ chains: [FilterChainConfig], _ fit: (FilterChainConfig) -> Fit) -> [FilterChainConfig] {
        let fits = chains.map(fit)
        let exact = zip(chains, fits).filter { $0.1 == .exact }.map(\.0)
        if !exact.isEmpty { return exact }
        return zip(chains, fits).filter { $0.1 == .unset }.map(\.0)
    }

    /// Exact server names beat the longest matching `*.suffix` wildcard, which beats none.
    static func narrowByServerName(_ chains: [FilterChainConfig], _ name: String?) -> [FilterChainConfig] {
        guard let name else { return chains.filter { $0.serverNames.isEmpty } }
        let exact = chains.filter { $0.serverNames.contains(name) }
        if !exact.isEmpty { return exact }
        var bestLength = 0
        var best: [FilterChainConfig] = []
        for chain in chains {
            for pattern in chain.serverNames where pattern.hasPrefix("*.") && name.hasSuffix(pattern.dropFirst()) {
                if pattern.count > bestLength {
                    bestLength = pattern.count
                    best = [chain]
                } else if pattern.count == bestLength {
                    best.append(chain)
                }
            }
        }
        if !best.isEmpty { return best }
        return chains.filter { $0.serverNames.isEmpty }
    }
}

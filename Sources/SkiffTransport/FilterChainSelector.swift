import SkiffCore

/// Chooses the filter chain for an accepted connection (`FilterChainMatch`), as Envoy does: the
/// criteria are applied in order — `destination_port`, `server_names`, `transport_protocol`,
/// `application_protocols` — and at each step the chains that name the connection's value
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

        public init(localPort: Int?, transportProtocol: String = "raw_buffer", serverName: String? = nil, alpn: [String] = []) {
            self.localPort = localPort
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
        candidates = narrowByServerName(candidates, connection.serverName)
        candidates = narrow(candidates) { chain in
            guard let wanted = chain.transportProtocol else { return .unset }
            return wanted == connection.transportProtocol ? .exact : .mismatch
        }
        candidates = narrow(candidates) { chain in
            guard !chain.applicationProtocols.isEmpty else { return .unset }
            return chain.applicationProtocols.contains(where: connection.alpn.contains) ? .exact : .mismatch
        }
        return candidates.first
    }

    static func matchesAll(_ chain: FilterChainConfig) -> Bool {
        chain.destinationPort == nil && chain.serverNames.isEmpty && chain.transportProtocol == nil && chain.applicationProtocols.isEmpty
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

import SkiffCore

/// Chooses the filter chain for an accepted connection (`FilterChainMatch`).
///
/// Today the only match criterion Skiff supports is `destination_port`: a chain naming the
/// connection's local port wins over a chain with no match; TLS and ALPN criteria arrive with the
/// mTLS work. Nil means no chain applies and the connection is closed
/// (`listener.<addr>.no_filter_chain_match`).
public enum FilterChainSelector {
    public static func select(_ chains: [FilterChainConfig], localPort: Int?) -> FilterChainConfig? {
        if let localPort, let exact = chains.first(where: { $0.destinationPort == localPort }) {
            return exact
        }
        return chains.first { $0.destinationPort == nil }
    }
}

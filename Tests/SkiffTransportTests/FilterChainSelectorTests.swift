import SkiffCore
import SkiffTransport
import Testing

/// Envoy's filter-chain match order: destination port, server names (exact over the longest
/// wildcard), transport protocol, application protocols; the default chain only as a fallback.
struct FilterChainSelectorTests {
    static func chain(
        _ name: String, port: Int? = nil, names: [String] = [], transport: String? = nil, alpn: [String] = [], isDefault: Bool = false
    ) -> FilterChainConfig {
        var chain = FilterChainConfig(
            name: name, destinationPort: port,
            filter: .tcpProxy(TCPProxyConfig(statPrefix: name, target: .single("c"), idleTimeout: nil, maxConnectAttempts: 1))
        )
        chain.serverNames = names
        chain.transportProtocol = transport
        chain.applicationProtocols = alpn
        chain.isDefault = isDefault
        return chain
    }

    static func pick(_ chains: [FilterChainConfig], port: Int = 15006, tls: Bool = false, sni: String? = nil, alpn: [String] = []) -> String? {
        FilterChainSelector.select(chains, connection: .init(
            localPort: port, transportProtocol: tls ? "tls" : "raw_buffer", serverName: sni, alpn: alpn
        ))?.name
    }

    @Test func permissiveChainsSplitByTransportProtocol() {
        let chains = [Self.chain("mtls", transport: "tls", alpn: ["istio-peer-exchange", "istio"]), Self.chain("mtls-any", transport: "tls"),
                      Self.chain("plain", transport: "raw_buffer")]
        #expect(Self.pick(chains, tls: true, alpn: ["istio", "http/1.1"]) == "mtls")
        #expect(Self.pick(chains, tls: true, alpn: ["h2"]) == "mtls-any")
        #expect(Self.pick(chains) == "plain")
    }

    @Test func portThenServerNameSpecificityWins() {
        let chains = [Self.chain("any"), Self.chain("port", port: 8443), Self.chain("wild", port: 8443, names: ["*.mesh.local"]),
                      Self.chain("deeper", port: 8443, names: ["*.api.mesh.local"]), Self.chain("exact", port: 8443, names: ["a.api.mesh.local"])]
        #expect(Self.pick(chains, port: 9000) == "any")
        #expect(Self.pick(chains, port: 8443) == "port")
        #expect(Self.pick(chains, port: 8443, sni: "x.mesh.local") == "wild")
        #expect(Self.pick(chains, port: 8443, sni: "b.api.mesh.local") == "deeper")
        #expect(Self.pick(chains, port: 8443, sni: "a.api.mesh.local") == "exact")
        #expect(Self.pick(chains, port: 8443, sni: "elsewhere.org") == "port")
    }

    @Test func theDefaultChainTakesOnlyWhatNothingElseMatches() {
        let chains = [Self.chain("tls-only", port: 8443, transport: "tls"), Self.chain("fallback", isDefault: true)]
        #expect(Self.pick(chains, port: 8443, tls: true) == "tls-only")
        #expect(Self.pick(chains, port: 8443) == "fallback", "plaintext on the TLS port")
        #expect(Self.pick(chains, port: 9000, tls: true) == "fallback")
        #expect(Self.pick([Self.chain("tls-only", transport: "tls")]) == nil)
    }
}

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

/// `prefix_ranges` (the longest containing prefix wins), then `source_type`, `source_prefix_ranges`
/// and `source_ports`: how an intercepting listener picks a chain by original destination and peer.
struct FilterChainSelectorAddressTests {
    static func chain(_ name: String, prefixes: [String] = [], sourceType: SourceType = .any, sources: [String] = [], sourcePorts: [Int] = []) -> FilterChainConfig {
        var chain = FilterChainSelectorTests.chain(name)
        chain.prefixRanges = prefixes.map { cidr in
            let parts = cidr.split(separator: "/")
            return CIDRRange(String(parts[0]), prefixLength: parts.count > 1 ? Int(parts[1]) : nil)!
        }
        chain.sourceType = sourceType
        chain.sourcePrefixRanges = sources.map { cidr in
            let parts = cidr.split(separator: "/")
            return CIDRRange(String(parts[0]), prefixLength: parts.count > 1 ? Int(parts[1]) : nil)!
        }
        chain.sourcePorts = sourcePorts
        return chain
    }

    static func pick(_ chains: [FilterChainConfig], to local: String, from remote: String = "10.1.2.3", port: Int = 40000) -> String? {
        FilterChainSelector.select(chains, connection: .init(localPort: 15001, localIP: local, remoteIP: remote, remotePort: port))?.name
    }

    @Test func longestDestinationPrefixWins() {
        let chains = [Self.chain("any"), Self.chain("net", prefixes: ["10.0.0.0/8"]), Self.chain("host", prefixes: ["10.1.0.0/16", "10.9.9.9"])]
        #expect(Self.pick(chains, to: "192.168.1.1") == "any")
        #expect(Self.pick(chains, to: "10.2.0.1") == "net")
        #expect(Self.pick(chains, to: "10.1.0.1") == "host")
        #expect(Self.pick(chains, to: "10.9.9.9") == "host")
        #expect(Self.pick([Self.chain("net", prefixes: ["10.0.0.0/8"])], to: "11.0.0.1") == nil)
    }

    @Test func sourceTypeThenSourceRangesThenSourcePorts() {
        let chains = [Self.chain("any"), Self.chain("local", sourceType: .local), Self.chain("mesh", sources: ["10.0.0.0/8"]),
                      Self.chain("mesh-port", sources: ["10.0.0.0/8"], sourcePorts: [5555])]
        #expect(Self.pick(chains, to: "10.1.1.1", from: "127.0.0.1") == "local")
        #expect(Self.pick(chains, to: "10.1.1.1", from: "192.168.0.7") == "any")
        #expect(Self.pick(chains, to: "10.1.1.1", from: "10.4.4.4") == "mesh")
        #expect(Self.pick(chains, to: "10.1.1.1", from: "10.4.4.4", port: 5555) == "mesh-port")
    }
}

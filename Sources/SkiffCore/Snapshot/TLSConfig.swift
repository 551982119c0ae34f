/// Where certificate material comes from (`envoy.config.core.v3.DataSource`): a file, re-read when
/// it changes, or bytes inline in the config.
public enum DataSource: Sendable, Hashable {
    case file(String)
    case inline([UInt8])
}

/// One `tls_certificates` entry: a PEM chain and its private key.
public struct CertificateKeyPair: Sendable, Hashable {
    public var chain: DataSource
    public var privateKey: DataSource

    public init(chain: DataSource, privateKey: DataSource) {
        self.chain = chain
        self.privateKey = privateKey
    }
}

/// `match_typed_subject_alt_names` (or the deprecated `match_subject_alt_names`, which matches
/// any SAN type): one SAN of `kind` must satisfy `rule`.
public struct SANMatcher: Sendable {
    public enum Kind: Sendable, Hashable {
        case dns, uri, email, ipAddress
        /// The deprecated untyped form: any SAN type.
        case any
    }

    public var kind: Kind
    public var rule: HeaderMatcher.Rule

    public init(kind: Kind, rule: HeaderMatcher.Rule) {
        self.kind = kind
        self.rule = rule
    }
}

/// `CertificateValidationContext`: whom the peer's certificate must chain to and what it must
/// name.
public struct ValidationConfig: Sendable {
    /// `trusted_ca`: one or more PEM CA certificates (several at once during a root rotation).
    public var trustedCA: DataSource?
    public var sanMatchers: [SANMatcher]
    /// `validation_context_sds_secret_config.name`: the trust bundle comes from SDS instead.
    public var sdsName: String?

    public init(trustedCA: DataSource? = nil, sanMatchers: [SANMatcher] = [], sdsName: String? = nil) {
        self.trustedCA = trustedCA
        self.sanMatchers = sanMatchers
        self.sdsName = sdsName
    }
}

/// TLS protocol versions Skiff speaks (1.2 and 1.3 only).
public enum TLSVersion: Int, Sendable, Comparable {
    case v1_2 = 12
    case v1_3 = 13

    public static func < (a: TLSVersion, b: TLSVersion) -> Bool { a.rawValue < b.rawValue }
}

/// `envoy.extensions.transport_sockets.tls.v3.CommonTlsContext`, the part both sides share.
public struct CommonTLSConfig: Sendable {
    /// `tls_certificates` (Skiff presents the first).
    public var certificates: [CertificateKeyPair]
    /// `tls_certificate_sds_secret_configs` names.
    public var certificateSDSNames: [String]
    /// `validation_context` (or its SDS form); nil: the peer is not verified.
    public var validation: ValidationConfig?
    /// `alpn_protocols`.
    public var alpn: [String]
    /// `tls_params.tls_minimum_protocol_version` / `tls_maximum_protocol_version`.
    public var minimumVersion: TLSVersion
    public var maximumVersion: TLSVersion
    /// SDS names delivered by their own gRPC source (`sds_config.api_config_source`), by the
    /// static cluster that reaches it (istio-agent's `sds-grpc` Unix socket); names not listed
    /// here come over ADS.
    public var sdsSources: [String: String] = [:]

    public init(
        certificates: [CertificateKeyPair] = [], certificateSDSNames: [String] = [], validation: ValidationConfig? = nil,
        alpn: [String] = [], minimumVersion: TLSVersion = .v1_2, maximumVersion: TLSVersion = .v1_3
    ) {
        self.certificates = certificates
        self.certificateSDSNames = certificateSDSNames
        self.validation = validation
        self.alpn = alpn
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
    }

    /// Every SDS secret name this context needs before it can be built.
    public var sdsNames: [String] {
        certificateSDSNames + (validation?.sdsName.map { [$0] } ?? [])
    }

    /// The SDS names requested over ADS (the others have their own source).
    public var adsSDSNames: [String] {
        sdsNames.filter { sdsSources[$0] == nil }
    }
}

/// `DownstreamTlsContext` on a filter chain's `transport_socket`.
public struct DownstreamTLSConfig: Sendable {
    public var common: CommonTLSConfig
    /// `require_client_certificate` (default false: a client certificate is verified if sent).
    public var requireClientCertificate: Bool
    /// A hash of the context as configured: connections are told apart by it, and contexts are
    /// shared by every chain with the same one.
    public var fingerprint: UInt64

    public init(common: CommonTLSConfig, requireClientCertificate: Bool = false, fingerprint: UInt64 = 0) {
        self.common = common
        self.requireClientCertificate = requireClientCertificate
        self.fingerprint = fingerprint
    }
}

/// `UpstreamTlsContext` on a cluster's `transport_socket` (or a `transport_socket_matches` entry).
public struct UpstreamTLSConfig: Sendable {
    public var common: CommonTLSConfig
    /// `sni`: the server name sent, and the name the server's certificate is not checked against
    /// (Envoy checks SANs only through `match_typed_subject_alt_names`).
    public var sni: String?
    public var fingerprint: UInt64

    public init(common: CommonTLSConfig, sni: String? = nil, fingerprint: UInt64 = 0) {
        self.common = common
        self.sni = sni
        self.fingerprint = fingerprint
    }
}

/// A `transport_socket_matches` entry: endpoints whose `envoy.transport_socket_match` metadata
/// has every `match` key and value use `tls` (nil: plaintext, `raw_buffer`).
public struct TransportSocketMatch: Sendable {
    public var name: String
    public var match: [String: String]
    public var tls: UpstreamTLSConfig?

    public init(name: String, match: [String: String], tls: UpstreamTLSConfig?) {
        self.name = name
        self.match = match
        self.tls = tls
    }
}

/// An SDS secret (`envoy.extensions.transport_sockets.tls.v3.Secret`) Skiff uses.
public enum TLSSecret: Sendable {
    case certificate(CertificateKeyPair)
    case validation(ValidationConfig)
}

extension ListenerConfig {
    /// Every SDS secret name the listener's TLS chains need.
    public var sdsNames: Set<String> {
        Set(filterChains.flatMap { $0.tls?.common.sdsNames ?? [] })
    }

    /// SDS names with their own source, by source cluster.
    public var sdsSources: [String: Set<String>] {
        filterChains.compactMap { $0.tls?.common }.reduce(into: [:]) { out, common in
            for (name, cluster) in common.sdsSources { out[cluster, default: []].insert(name) }
        }
    }

    public var adsSDSNames: Set<String> {
        Set(filterChains.flatMap { $0.tls?.common.adsSDSNames ?? [] })
    }
}

extension ClusterConfig {
    /// Every upstream TLS context the cluster may use.
    public var allTLS: [UpstreamTLSConfig] {
        (tls.map { [$0] } ?? []) + transportSocketMatches.compactMap(\.tls)
    }

    /// Every SDS secret name the cluster's TLS needs.
    public var sdsNames: Set<String> {
        Set(allTLS.flatMap(\.common.sdsNames))
    }

    /// SDS names with their own source, by source cluster.
    public var sdsSources: [String: Set<String>] {
        allTLS.map(\.common).reduce(into: [:]) { out, common in
            for (name, cluster) in common.sdsSources { out[cluster, default: []].insert(name) }
        }
    }

    public var adsSDSNames: Set<String> {
        Set(allTLS.flatMap(\.common.adsSDSNames))
    }
}

import NIOSSL

/// One certificate in use, as `/certs` shows it and the expiry gauges read it.
public struct CertificateReport: Sendable {
    /// The file it came from, or `<inline>` (inline config or SDS).
    public var source: String
    public var serial: String
    /// SANs in Envoy's order (DNS, then URI, then IP, then email), as (`dns` | `uri` | ..., value).
    public var subjectAltNames: [(kind: String, value: String)]
    public var notBefore: Int
    public var notAfter: Int

    init(_ certificate: NIOSSLCertificate, source: String) {
        let identity = PeerIdentity(certificate)
        self.source = source
        self.serial = identity.serial
        self.subjectAltNames = identity.dnsNames.map { ("dns", $0) } + identity.uris.map { ("uri", $0) }
            + identity.ipAddresses.map { ("ip_address", $0) } + identity.emails.map { ("email", $0) }
        self.notBefore = Int(certificate.notValidBefore)
        self.notAfter = Int(certificate.notValidAfter)
    }
}

/// The certificates of one TLS context: what it presents and whom it trusts.
public struct ContextCertificates: Sendable {
    public var chain: [CertificateReport]
    public var trusted: [CertificateReport]
}

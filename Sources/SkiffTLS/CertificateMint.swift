import Crypto
import Foundation
import SwiftASN1
import X509

/// Mints a CA and leaf certificates (ECDSA P-256) with SPIFFE URI and DNS SANs: what `skiff demo`
/// and the tests use, so neither needs `openssl` or files shipped in the repository.
public struct CertificateMint: Sendable {
    /// One certificate and its key, PEM-encoded.
    public struct Issued: Sendable {
        public var certificatePEM: String
        public var privateKeyPEM: String
        /// Lowercase hex of the serial number (as `PeerIdentity.serial` prints it).
        public var serial: String
    }

    public let ca: Issued
    private let caKey: P256.Signing.PrivateKey
    private let caName: DistinguishedName

    /// A self-signed CA named `name`, valid from a minute ago for `days`.
    public init(name: String = "Skiff test CA", days: Int = 30) throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 60, notValidAfter: now + Double(days) * 86_400,
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key)
        )
        self.caKey = key
        self.caName = subject
        self.ca = Issued(
            certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation,
            serial: Self.hex(certificate.serialNumber)
        )
    }

    /// A leaf for both server and client use, naming `uris` (e.g. a SPIFFE ID) and `dnsNames`.
    /// `validFor` may be negative for an already expired certificate.
    public func issue(commonName: String, uris: [String] = [], dnsNames: [String] = [], validFor seconds: Double = 86_400) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        var names: [GeneralName] = uris.map { .uniformResourceIdentifier($0) } + dnsNames.map { .dnsName($0) }
        if names.isEmpty { names = [.dnsName(commonName)] }
        let sans = names
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: min(now - 60, now + seconds - 120), notValidAfter: now + seconds,
            issuer: caName, subject: try DistinguishedName { CommonName(commonName) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(sans)
            },
            issuerPrivateKey: .init(caKey)
        )
        return Issued(
            certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation,
            serial: Self.hex(certificate.serialNumber)
        )
    }

    static func hex(_ serial: Certificate.SerialNumber) -> String {
        // Drop a leading zero byte (DER's sign padding), as BoringSSL reports the serial.
        var bytes = Array(serial.bytes)
        while bytes.count > 1, bytes.first == 0 { bytes.removeFirst() }
        return bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

import Foundation
import NIOCore
import NIOSSL
import SkiffTLS

/// Certificates minted for one test (a CA and SPIFFE leaves), written to a temporary directory so
/// bootstraps can name them by `filename`, as real deployments do.
struct TestPKI {
    static let frontend = "spiffe://cluster.local/ns/default/sa/frontend"
    static let backend = "spiffe://cluster.local/ns/default/sa/backend"

    let directory: String
    let mint: CertificateMint

    struct Files {
        var certificate: String
        var key: String
        var serial: String
    }

    init() throws {
        directory = NSTemporaryDirectory() + "skiff-pki-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        mint = try CertificateMint()
        try mint.ca.certificatePEM.write(toFile: caPath, atomically: true, encoding: .utf8)
    }

    var caPath: String { directory + "/ca.pem" }

    /// A leaf named `name` (files `<name>.pem` / `<name>.key`), with `spiffe` as its URI SAN.
    @discardableResult
    /// Valid for 20 hours by default (X.509 times round to the second, so a whole day could show
    /// as just over one).
    func issue(_ name: String, spiffe: String?, validFor seconds: Double = 72_000) throws -> Files {
        let issued = try mint.issue(commonName: name, uris: spiffe.map { [$0] } ?? [], dnsNames: ["localhost"], validFor: seconds)
        let files = Files(certificate: directory + "/\(name).pem", key: directory + "/\(name).key", serial: issued.serial)
        // Written beside and renamed in, as a secret volume swaps files: never half-written.
        try issued.privateKeyPEM.write(toFile: files.key + ".tmp", atomically: false, encoding: .utf8)
        try issued.certificatePEM.write(toFile: files.certificate + ".tmp", atomically: false, encoding: .utf8)
        _ = rename(files.key + ".tmp", files.key)
        _ = rename(files.certificate + ".tmp", files.certificate)
        return files
    }

    /// A client context trusting this CA, presenting `identity` if given.
    func clientContext(_ identity: Files? = nil, alpn: [String] = []) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        tls.certificateVerification = .noHostnameVerification
        tls.applicationProtocols = alpn
        if let identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(identity.certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: identity.key, format: .pem))
        }
        return try NIOSSLContext(configuration: tls)
    }

    /// `CommonTlsContext` YAML (flush-left) presenting `identity` and, with `trust`, validating
    /// the peer against this CA and the SPIFFE IDs in `sans`.
    func commonTLS(_ identity: Files?, trust: Bool = true, sans: [String] = [], alpn: [String] = []) -> String {
        var lines = ["common_tls_context:"]
        if let identity {
            lines += [
                "  tls_certificates:",
                "  - certificate_chain: { filename: \(identity.certificate) }",
                "    private_key: { filename: \(identity.key) }",
            ]
        }
        if trust {
            lines += ["  validation_context:", "    trusted_ca: { filename: \(caPath) }"]
            if !sans.isEmpty {
                lines.append("    match_typed_subject_alt_names:")
                for san in sans { lines.append("    - { san_type: URI, matcher: { exact: \"\(san)\" } }") }
            }
        }
        if !alpn.isEmpty { lines.append("  alpn_protocols: [\(alpn.joined(separator: ", "))]") }
        return lines.joined(separator: "\n")
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension RawClient {
    /// The serial (lowercase hex) of the certificate the server presented.
    func peerSerial() async throws -> String? {
        let certificate = try await channelForTests.nioSSL_peerCertificate().get()
        return certificate.map { PeerIdentity($0).serial }
    }
}

import Foundation
import NIOSSL
import SkiffCore
import Testing
@testable import SkiffTLS

struct CertificateMintTests {
    @Test func mintedLeavesCarryTheirSANsAndExpiry() throws {
        let mint = try CertificateMint()
        let before = Date().timeIntervalSince1970
        let leaf = try mint.issue(commonName: "backend", uris: ["spiffe://cluster.local/ns/default/sa/backend"], dnsNames: ["localhost"], validFor: 3_600)
        let parsed = try NIOSSLCertificate(bytes: Array(leaf.certificatePEM.utf8), format: .pem)
        let identity = PeerIdentity(parsed)
        #expect(identity.spiffeID == "spiffe://cluster.local/ns/default/sa/backend" && identity.dnsNames == ["localhost"])
        #expect(identity.serial == leaf.serial)
        let expiry = Double(parsed.notValidAfter)
        #expect(abs(expiry - (before + 3_600)) < 2, "\(expiry) vs \(before + 3_600), wall \(wallClockSeconds())")
    }
}

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import SkiffCore
import X509

/// Peer verification inside the handshake, when SANs must match: the chain against the trusted
/// CAs (RFC 5280, swift-certificates) and then the SAN matchers, so a peer that fails either gets
/// a TLS alert in the handshake — as Envoy refuses it — rather than a completed handshake and a
/// close. `note` says which check failed, for the `ssl.fail_verify_*` stats.
public enum TLSVerifier {
    /// Which check refused the peer (shared between the verification task and the observer).
    public final class Note: Sendable {
        private let failure = NIOLockedValueBox<TLSOutcome?>(nil)

        public init() {}

        public var outcome: TLSOutcome? { failure.withLockedValue { $0 } }

        func record(_ outcome: TLSOutcome) {
            failure.withLockedValue { $0 = outcome }
        }
    }

    public static func callback(roots: [Certificate], sanMatchers: [SANMatcher], note: Note) -> NIOSSLCustomVerificationCallback {
        { chain, promise in
            promise.completeWithTask {
                guard let leafCertificate = chain.first, let leafDER = try? leafCertificate.toDERBytes(),
                      let leaf = try? Certificate(derEncoded: leafDER)
                else {
                    note.record(.failVerifyError)
                    return .failed
                }
                let intermediates = chain.dropFirst().compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
                var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
                    RFC5280Policy(validationTime: Date())
                }
                guard case .validCertificate = await verifier.validate(leafCertificate: leaf, intermediates: CertificateStore(intermediates)) else {
                    note.record(.failVerifyError)
                    return .failed
                }
                guard PeerIdentity(leafCertificate).matches(sanMatchers) else {
                    note.record(.failVerifySAN)
                    return .failed
                }
                return .certificateVerified
            }
        }
    }

    /// The trusted CAs in swift-certificates' form (built once per TLS context).
    static func roots(_ certificates: [NIOSSLCertificate]) -> [Certificate] {
        certificates.compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
    }
}

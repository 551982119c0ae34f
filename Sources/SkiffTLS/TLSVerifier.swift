import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import SkiffCore
import X509

/// Peer verification inside the handshake, when SANs must match: BoringSSL checks the chain and
/// this checks the SANs during that same verification, so a peer that fails either gets a TLS
/// alert in the handshake — as Envoy refuses it — rather than a completed handshake and a close.
/// `note` says which check failed, for the `ssl.fail_verify_*` stats.
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

    /// The synchronous form: BoringSSL verifies the chain itself and calls this for each
    /// certificate with its verdict; a CA in the chain passes on that verdict, the leaf must also
    /// match the SANs. No task, no second chain walk: this is the per-handshake path.
    ///
    /// `authorities` are the trusted CAs: BoringSSL calls back for the root first, and comparing
    /// it with them (`X509_cmp`, a digest BoringSSL cached when it parsed the certificate) costs
    /// nothing, where parsing it again to read its basic constraints was 5 % of a handshake.
    public static func perCertificate(sanMatchers: [SANMatcher], authorities: [NIOSSLCertificate] = [], note: Note) -> NIOSSLVerificationCallback {
        { preverified, certificate in
            guard case .certificateVerified = preverified else {
                note.record(.failVerifyError)
                return .failed
            }
            if authorities.contains(certificate) { return .certificateVerified }
            // SANs next (cheap, BoringSSL's own parse); only a certificate without a matching SAN
            // (an intermediate CA, or a leaf that does not match) pays for the parse that tells them apart.
            if PeerIdentity(certificate).matches(sanMatchers) || isAuthority(certificate) { return .certificateVerified }
            note.record(.failVerifySAN)
            return .failed
        }
    }

    static func isAuthority(_ certificate: NIOSSLCertificate) -> Bool {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der),
              let constraints = try? parsed.extensions.basicConstraints
        else { return false }
        if case .isCertificateAuthority = constraints { return true }
        return false
    }
}

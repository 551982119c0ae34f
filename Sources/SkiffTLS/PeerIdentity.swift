import Crypto
import Foundation
import NIOSSL
import SkiffCore
import SkiffRouting
import X509

/// What the peer's certificate says about it: its SANs by type and its SPIFFE ID.
public struct PeerIdentity: Sendable, Equatable {
    public static func == (a: PeerIdentity, b: PeerIdentity) -> Bool {
        a.uris == b.uris && a.dnsNames == b.dnsNames && a.emails == b.emails && a.ipAddresses == b.ipAddresses && a.serial == b.serial
    }

    public var uris: [String] = []
    public var dnsNames: [String] = []
    public var emails: [String] = []
    public var ipAddresses: [String] = []
    /// Lowercase hex of the certificate's serial number; formatted on demand (`/certs`, logs,
    /// `x-forwarded-client-cert` do not run per handshake, the verifier does).
    public var serial: String {
        certificate.map { $0.serialNumber.map { String($0, radix: 16).leftPadded(to: 2) }.joined() } ?? ""
    }
    /// The certificate, for what few readers need and costs a parse (subject, DER).
    public var certificate: NIOSSLCertificate?

    /// The certificate's subject (RFC 4514, e.g. `CN=frontend`); parsed on demand, as only RBAC's
    /// last-resort principal match and `x-forwarded-client-cert`'s `Subject` read it.
    public var subject: String {
        (try? Certificate(derEncoded: der))?.subject.description ?? ""
    }

    /// The certificate itself (DER), for `x-forwarded-client-cert`'s `Hash` and `Cert`.
    public var der: [UInt8] {
        (try? certificate?.toDERBytes()) ?? []
    }

    public init() {}

    /// The first `spiffe://` URI SAN (Istio's and SPIRE's workload identity).
    public var spiffeID: String? { uris.first { $0.hasPrefix("spiffe://") } }

    /// `%DOWNSTREAM_PEER_URI_SAN%` / RBAC `principal_name`: the first URI SAN, else the first
    /// DNS SAN.
    public var principal: String? { uris.first ?? dnsNames.first }

    public init(_ certificate: NIOSSLCertificate) {
        for name in certificate._subjectAlternativeNames() {
            let text = name.contents.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
            switch name.nameType {
            case .uri: uris.append(text)
            case .dnsName: dnsNames.append(text)
            case .email: emails.append(text)
            case .ipAddress:
                let bytes = name.contents.withUnsafeBufferPointer { Array($0) }
                ipAddresses.append(Self.ipText(bytes))
            default: break
            }
        }
        self.certificate = certificate
    }

    static func ipText(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        var index = 0
        while index + 1 < bytes.count {
            groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16))
            index += 2
        }
        return groups.joined(separator: ":")
    }

    /// Whether the certificate satisfies `matchers` (any one of them, as Envoy's
    /// `match_typed_subject_alt_names`); no matchers accept everything.
    public func matches(_ matchers: [SANMatcher]) -> Bool {
        guard !matchers.isEmpty else { return true }
        return matchers.contains { matcher in
            let candidates: [String]
            switch matcher.kind {
            case .dns: candidates = dnsNames
            case .uri: candidates = uris
            case .email: candidates = emails
            case .ipAddress: candidates = ipAddresses
            case .any: candidates = uris + dnsNames + emails + ipAddresses
            }
            return candidates.contains { value in
                if matcher.kind == .dns || matcher.kind == .any, value.hasPrefix("*."), case .exact(let wanted, _) = matcher.rule {
                    // A wildcard DNS SAN covers one label, as Envoy's DNS SAN matching does.
                    let suffix = value.dropFirst(1)
                    if let dot = wanted.firstIndex(of: "."), wanted[dot...] == suffix { return true }
                }
                return HeaderMatching.evaluate(matcher.rule, value)
            }
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// One downstream TLS connection's facts, filled in when its handshake completes and read by the
/// filters behind it (RBAC, the connection manager).
public final class TLSSession {
    /// The SNI the client sent (from the TLS inspector).
    public var serverName: String?
    /// The verified peer certificate's identity (nil: the client sent none).
    public var peer: PeerIdentity?
    public var alpn: String?
    /// The URI SAN of the certificate this side presented (`By` in `x-forwarded-client-cert`).
    public var localURI: String?
    private var xfcc: String??

    public init(serverName: String?, localURI: String? = nil) {
        self.serverName = serverName
        self.localURI = localURI
    }

    /// This connection's `x-forwarded-client-cert` element (Envoy's format: `By`, `Hash`, then
    /// the requested `Cert`, `Chain`, `Subject`, `URI`, `DNS`), built once per connection; nil
    /// when the peer sent no certificate.
    public func forwardedClientCert(_ fields: ClientCertFields) -> String? {
        if let cached = xfcc { return cached }
        var rendered: String?
        if let peer {
            var parts: [String] = []
            if let localURI { parts.append("By=\(localURI)") }
            parts.append("Hash=" + SHA256.hash(data: peer.der).map { String($0, radix: 16).leftPadded(to: 2) }.joined())
            if fields.cert || fields.chain {
                let pem = Self.pem(peer.der)
                let encoded = pem.addingURLEncoding()
                if fields.cert { parts.append("Cert=\"\(encoded)\"") }
                if fields.chain { parts.append("Chain=\"\(encoded)\"") }
            }
            if fields.subject { parts.append("Subject=\"\(peer.subject)\"") }
            if fields.uri { parts += peer.uris.map { "URI=\($0)" } }
            if fields.dns { parts += peer.dnsNames.map { "DNS=\($0)" } }
            rendered = parts.joined(separator: ";")
        }
        xfcc = .some(rendered)
        return rendered
    }

    static func pem(_ der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n" + base64 + "\n-----END CERTIFICATE-----\n"
    }
}

extension String {
    /// Percent-encoding of everything but unreserved characters (Envoy URL-encodes the PEM).
    func addingURLEncoding() -> String {
        var out = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

@available(*, unavailable)
extension TLSSession: Sendable {}

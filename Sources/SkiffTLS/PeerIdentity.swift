import NIOSSL
import SkiffCore
import SkiffRouting

/// What the peer's certificate says about it: its SANs by type and its SPIFFE ID.
public struct PeerIdentity: Sendable, Equatable {
    public var uris: [String] = []
    public var dnsNames: [String] = []
    public var emails: [String] = []
    public var ipAddresses: [String] = []
    /// Lowercase hex of the certificate's serial number.
    public var serial: String = ""

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
        serial = certificate.serialNumber.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
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

    public init(serverName: String?) {
        self.serverName = serverName
    }
}

@available(*, unavailable)
extension TLSSession: Sendable {}

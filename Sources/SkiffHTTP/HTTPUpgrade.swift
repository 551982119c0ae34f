import NIOHTTP1
import SkiffCore

/// HTTP/1.1 protocol upgrades (RFC 9110 §7.8) as the connection manager sees them: which requests
/// switch protocols, which may (`upgrade_configs` on the connection manager and the route), and
/// the headers that must survive the proxy's hop-by-hop stripping for the switch to happen.
enum HTTPUpgrade {
    /// Whether this request ends HTTP on its connection whatever the answer: NIO's decoder (llhttp)
    /// stops parsing after a request with `Connection: upgrade` and an `Upgrade` header, or a
    /// CONNECT, since what follows may be another protocol. Such a connection carries no further
    /// request, which is also Envoy's stance (a refused upgrade closes the connection, so an
    /// upgrade payload can never smuggle a request).
    static func endsHTTP(_ head: HTTPRequestHead) -> Bool {
        if head.method == .CONNECT { return true }
        return head.headers.contains(name: "upgrade") && connectionNamesUpgrade(head.headers)
    }

    /// The protocol a request asks to switch to (the first `Upgrade` token, lowercased), or nil:
    /// no upgrade, or `h2c`, which Envoy strips and serves as a plain HTTP/1.1 request.
    static func requestedType(_ head: HTTPRequestHead) -> String? {
        guard head.method != .CONNECT, connectionNamesUpgrade(head.headers),
              let value = head.headers.first(name: "upgrade")
        else { return nil }
        let first = value.split(separator: ",", maxSplits: 1).first.map(String.init) ?? value
        let type = first.trimmingSpaces().lowercased()
        if type.isEmpty || type == "h2c" { return nil }
        return type
    }

    /// Envoy's rule: a route's `upgrade_configs` entry for the type decides either way; without
    /// one, the connection manager's enabled `upgrade_configs` do.
    static func isAllowed(_ type: String, connectionManager: Set<String>, route: [String: Bool]?) -> Bool {
        if let decided = route?[type] { return decided }
        return connectionManager.contains(type)
    }

    /// Puts back the two headers the switch needs after hop-by-hop stripping removed them, as the
    /// peer wrote them (Envoy passes them through): `Connection` (one naming `upgrade`) and
    /// `Upgrade`.
    static func restoreHeaders(_ headers: inout HTTPHeaders, from original: HTTPHeaders) {
        let connection = original.first(name: "connection").flatMap { value in
            value.lowercased().contains("upgrade") ? value : nil
        }
        headers.replaceOrAdd(name: "connection", value: connection ?? "upgrade")
        if let upgrade = original.first(name: "upgrade") {
            headers.replaceOrAdd(name: "upgrade", value: upgrade)
        }
    }

    private static func connectionNamesUpgrade(_ headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }
}

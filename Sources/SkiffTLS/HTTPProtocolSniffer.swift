/// `envoy.filters.listener.http_inspector`'s decision from a plaintext connection's first bytes:
/// the HTTP/2 preface (`h2c`), an HTTP/1.x request line (`http/1.1` or `http/1.0`, by the
/// version it names), or neither (a server-speaks-first protocol, TLS, anything else), which
/// matches chains without `application_protocols`.
public enum HTTPProtocolSniffer {
    public enum Result: Equatable, Sendable {
        case needMore
        case detected(String)
        case notHTTP
    }

    /// The most bytes looked at: a request line longer than this is not worth proxying as HTTP.
    public static let maxBytes = 8 * 1024

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"].map { Array($0.utf8) }

    public static func sniff(_ bytes: some Collection<UInt8>) -> Result {
        let data = Array(bytes.prefix(maxBytes))
        if data.isEmpty { return .needMore }
        if data.starts(with: preface) { return .detected("h2c") }
        if preface.starts(with: data) { return .needMore }
        // The method, then a space: decided as soon as a byte cannot belong to one.
        let token = data.prefix { $0 != UInt8(ascii: " ") }
        let tokenDone = token.count < data.count
        let candidates = methods.filter { tokenDone ? $0 == Array(token) : $0.starts(with: token) }
        if candidates.isEmpty { return .notHTTP }
        guard tokenDone else { return .needMore }
        // `METHOD SP target SP HTTP/1.x CRLF`.
        guard let lineEnd = data.firstIndex(of: UInt8(ascii: "\n")) else {
            return data.count >= maxBytes ? .notHTTP : .needMore
        }
        var line = data[..<lineEnd]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let text = String(decoding: line, as: UTF8.self)
        if text.hasSuffix(" HTTP/1.1") { return .detected("http/1.1") }
        if text.hasSuffix(" HTTP/1.0") { return .detected("http/1.0") }
        return .notHTTP
    }
}

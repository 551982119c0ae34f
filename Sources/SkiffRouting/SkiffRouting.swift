import SkiffCore

/// SkiffRouting owns the pure decisions of the request path: which virtual host and route a
/// request matches, which cluster a weighted target picks, how the path is rewritten. Everything
/// here is a function of a snapshot and request attributes; nothing touches a channel, so it is
/// tested exhaustively without sockets.
///
/// Header access goes through `RequestHeaderView`, so the HTTP codec's header type (NIO's
/// `HTTPHeaders` today, HTTP/2 header blocks later) plugs in without copying.
public protocol RequestHeaderView {
    /// All values of a header (case-insensitive name), in order.
    func values(forHeader name: String) -> [String]
}

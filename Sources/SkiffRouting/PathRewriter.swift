import SkiffCore

/// Applies `prefix_rewrite`: the part of the path the route matched (its prefix, or the whole path
/// for a `path` match) is replaced, and the rest (including the query) is kept.
public enum PathRewriter {
    public static func rewrite(path: String, match: RouteMatch, prefixRewrite: String?) -> String {
        guard let replacement = prefixRewrite else { return path }
        switch match.path {
        case .prefix(let prefix):
            return replacement + path.dropFirst(prefix.count)
        case .path(let exact):
            return replacement + path.dropFirst(exact.count)
        case .regex:
            // Envoy rejects prefix_rewrite with safe_regex matches; the translator does too.
            return path
        }
    }
}

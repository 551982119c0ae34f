import SkiffCore

/// Finds the first route of a virtual host that matches a request (`envoy.config.route.v3.RouteMatch`).
///
/// `prefix` compares against the whole `:path` (query included), as Envoy does; `path` and
/// `safe_regex` compare against the path with the query string removed. Every header matcher must
/// match too.
public enum RouteMatcher {
    public static func firstMatch(in host: VirtualHost, path: String, headers: some RequestHeaderView) -> Route? {
        for route in host.routes where matches(route.match, path: path, headers: headers) {
            return route
        }
        return nil
    }

    public static func matches(_ match: RouteMatch, path: String, headers: some RequestHeaderView) -> Bool {
        guard matchesPath(match, path: path) else { return false }
        for matcher in match.headers where !HeaderMatching.matches(matcher, headers: headers) {
            return false
        }
        return true
    }

    static func matchesPath(_ match: RouteMatch, path: String) -> Bool {
        switch match.path {
        case .prefix(let prefix):
            return match.caseSensitive
                ? path.hasPrefix(prefix)
                : path.lowercased().hasPrefix(prefix.lowercased())
        case .path(let exact):
            let bare = pathWithoutQuery(path)
            return match.caseSensitive ? bare == exact : bare.lowercased() == exact.lowercased()
        case .regex(let regex):
            return regex.matches(pathWithoutQuery(path))
        }
    }

    /// The path up to (not including) `?` or `#`.
    public static func pathWithoutQuery(_ path: String) -> Substring {
        if let index = path.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            return path[..<index]
        }
        return path[...]
    }
}

import SkiffCore

/// Evaluates one `HeaderMatcher` against a request's headers.
///
/// A header with several values is matched as Envoy does: the values joined with `,`. A missing
/// header never matches (inverted or not) unless `present_match: false` asks for absence or
/// `treat_missing_header_as_empty` makes it the empty string.
public enum HeaderMatching {
    public static func matches(_ matcher: HeaderMatcher, headers: some RequestHeaderView) -> Bool {
        let values = headers.values(forHeader: matcher.name)
        if case .present(let wanted) = matcher.rule {
            return (!values.isEmpty == wanted) != matcher.invert
        }
        let value: String
        if values.isEmpty {
            guard matcher.treatMissingAsEmpty else { return false }
            value = ""
        } else {
            value = values.count == 1 ? values[0] : values.joined(separator: ",")
        }
        return evaluate(matcher.rule, value) != matcher.invert
    }

    public static func evaluate(_ rule: HeaderMatcher.Rule, _ value: String) -> Bool {
        rule.matches(value)
    }
}

import SkiffCore
import Synchronization

/// Envoy's tag extraction: turns a dotted stat name into a tag-extracted name and labels, e.g.
/// `cluster.backend.upstream_rq_200` → `cluster.upstream_rq` with `envoy.response_code=200` and
/// `envoy.cluster_name=backend`.
///
/// Every extractor looks at the whole original name; the characters each one claims are cut out
/// together at the end, so extractors do not depend on each other's order. As in Envoy, the
/// default cluster extractor takes only the first dotted token, which is why Istio's bootstrap
/// supplies its own `stats_tags` for cluster names like `outbound|80||svc.ns.svc.cluster.local`.
/// Results are cached per name (names are bounded by the configuration; the cache is capped too)
/// because rendering runs every extractor's regex.
public final class TagProducer: Sendable {
    public struct Extracted: Sendable, Equatable {
        /// The name with the tag values cut out (`cluster.upstream_rq`).
        public var name: String
        /// Labels in Envoy's order: fixed tags, then extractors that apply to any name, then those
        /// keyed by the name's first token.
        public var tags: [(name: String, value: String)]

        public static func == (a: Extracted, b: Extracted) -> Bool {
            a.name == b.name && a.tags.elementsEqual(b.tags) { $0.name == $1.name && $0.value == $1.value }
        }
    }

    private let fixed: [(name: String, value: String)]
    private let matcher: StatsConfig.Matcher
    private let admitted = Mutex<[String: Bool]>([:])
    private let extractors: [TagExtractor]
    private let cache = Mutex<[String: Extracted]>([:])
    static let cacheLimit = 65_536

    public init(_ config: StatsConfig) throws {
        let all = (config.useDefaultTags ? StatsConfig.defaultTags : []) + config.tags
        var fixed: [(String, String)] = []
        var anyName: [TagExtractor] = []
        var keyed: [TagExtractor] = []
        for tag in all {
            switch tag.value {
            case .fixed(let value):
                fixed.append((tag.name, value))
            case .regex, .tokens:
                let extractor = try TagExtractor(tag)
                if extractor.firstToken == nil { anyName.append(extractor) } else { keyed.append(extractor) }
            }
        }
        self.fixed = fixed
        self.extractors = anyName + keyed
        self.matcher = config.matcher
    }

    /// Whether `stats_matcher` lets the stat named `name` exist (cached: regex rules are costly).
    public func admits(_ name: String) -> Bool {
        if case .all = matcher { return true }
        if let known = admitted.withLock({ $0[name] }) { return known }
        let result = matcher.admits(name)
        admitted.withLock { cache in
            if cache.count < Self.cacheLimit { cache[name] = result }
        }
        return result
    }

    /// The producer for Envoy's defaults (used where no bootstrap is at hand).
    public static let defaults = try! TagProducer(StatsConfig())

    public func extract(_ name: String) -> Extracted {
        if let hit = cache.withLock({ $0[name] }) { return hit }
        let result = compute(name)
        cache.withLock { cache in
            if cache.count < Self.cacheLimit { cache[name] = result }
        }
        return result
    }

    private func compute(_ name: String) -> Extracted {
        // Envoy 1.40 prints its `filesystem.*` stats without the fixed-value tags.
        var tags = name.hasPrefix("filesystem.") ? [] : fixed
        var cut: [Range<String.Index>] = []
        let first = name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? name
        for extractor in extractors {
            if let token = extractor.firstToken, token != first { continue }
            if let (value, range) = extractor.extract(name) {
                tags.append((extractor.name, value))
                cut.append(range)
            }
        }
        guard !cut.isEmpty else { return Extracted(name: name, tags: tags) }
        var out = ""
        var index = name.startIndex
        while index < name.endIndex {
            if let covering = cut.first(where: { $0.contains(index) }) {
                index = cut.filter { $0.contains(index) }.map(\.upperBound).max() ?? covering.upperBound
                continue
            }
            out.append(name[index])
            index = name.index(after: index)
        }
        return Extracted(name: out, tags: tags)
    }
}

/// One tag extractor: a regex (Envoy's capture-group convention) or a token pattern.
struct TagExtractor: @unchecked Sendable {
    let name: String
    /// The literal first token every matching name starts with, when the pattern pins one
    /// (`^cluster\.` or `cluster.$.**`); lets the producer skip extractors cheaply.
    let firstToken: String?
    private let regex: Regex<AnyRegexOutput>?
    private let tokens: [Substring]
    private let unless: String?

    struct InvalidPattern: Error, CustomStringConvertible {
        var description: String
    }

    init(_ tag: StatsConfig.Tag) throws {
        name = tag.name
        unless = tag.unless
        switch tag.value {
        case .regex(let pattern):
            if let problem = tag.problem { throw InvalidPattern(description: problem) }
            regex = try Regex(pattern)
            tokens = []
            firstToken = Self.literalPrefix(pattern)
        case .tokens(let pattern):
            regex = nil
            tokens = pattern.split(separator: ".", omittingEmptySubsequences: false)
            firstToken = tokens.first.flatMap { $0 == "$" || $0 == "*" || $0 == "**" ? nil : String($0) }
        case .fixed:
            throw InvalidPattern(description: "a fixed tag has no extractor")
        }
    }

    /// The value and the range of `name` it claims, or nil when the pattern does not apply.
    func extract(_ name: String) -> (String, Range<String.Index>)? {
        let found = regex != nil ? extractRegex(name) : extractTokens(name)
        guard let found, found.0 != unless else { return nil }
        return found
    }

    private func extractRegex(_ name: String) -> (String, Range<String.Index>)? {
        guard let regex, let match = try? regex.firstMatch(in: name), match.output.count > 1,
              let removed = match.output[1].range else { return nil }
        let valueRange = match.output.count > 2 ? (match.output[2].range ?? removed) : removed
        return (String(name[valueRange]), removed)
    }

    private func extractTokens(_ name: String) -> (String, Range<String.Index>)? {
        var parts: [Range<String.Index>] = []
        var start = name.startIndex
        for index in name.indices where name[index] == "." {
            parts.append(start..<index)
            start = name.index(after: index)
        }
        parts.append(start..<name.endIndex)
        var captured: Int?
        for (position, token) in tokens.enumerated() {
            if token == "**" {
                guard position == tokens.count - 1 else { return nil }
                break
            }
            guard position < parts.count else { return nil }
            if token == "$" {
                captured = position
            } else if token != "*", name[parts[position]] != token {
                return nil
            }
            if position == tokens.count - 1, parts.count != tokens.count { return nil }
        }
        guard let captured else { return nil }
        let value = parts[captured]
        // The value goes with its following dot, or its preceding one when it is last.
        let removed = captured + 1 < parts.count
            ? value.lowerBound..<parts[captured + 1].lowerBound
            : (captured > 0 ? parts[captured - 1].upperBound..<value.upperBound : value)
        return (String(name[value]), removed)
    }

    /// Envoy's prefix rule: `^word\.` or `^word(?=\.)` pins the first token.
    static func literalPrefix(_ pattern: String) -> String? {
        guard pattern.hasPrefix("^") else { return nil }
        let body = pattern.dropFirst()
        let word = body.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        guard !word.isEmpty else { return nil }
        let rest = body.dropFirst(word.count)
        return rest.hasPrefix(#"\."#) || rest.hasPrefix(#"(?=\.)"#) ? String(word) : nil
    }
}

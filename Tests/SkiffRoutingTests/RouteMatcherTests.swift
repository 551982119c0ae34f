import SkiffCore
import SkiffRouting
import Testing

struct Headers: RequestHeaderView {
    var pairs: [(String, String)]
    init(_ pairs: [(String, String)] = []) { self.pairs = pairs }
    func values(forHeader name: String) -> [String] {
        pairs.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }
}

func route(_ name: String, _ path: RouteMatch.PathRule, headers: [HeaderMatcher] = [], caseSensitive: Bool = true) -> Route {
    Route(name: name, match: RouteMatch(path: path, caseSensitive: caseSensitive, headers: headers), action: .directResponse(status: 200, body: name))
}

struct RouteMatcherTests {
    @Test func prefixMatchesTheWholePathIncludingQuery() {
        let host = VirtualHost(name: "h", domains: ["*"], routes: [route("api", .prefix("/api")), route("all", .prefix("/"))])
        #expect(RouteMatcher.firstMatch(in: host, path: "/api/users?x=1", headers: Headers())?.name == "api")
        #expect(RouteMatcher.firstMatch(in: host, path: "/apx", headers: Headers())?.name == "all")
    }

    @Test func pathAndRegexIgnoreTheQueryString() throws {
        let host = VirtualHost(name: "h", domains: ["*"], routes: [
            route("exact", .path("/health")),
            route("regex", .regex(try CompiledRegex("/users/[0-9]+"))),
        ])
        #expect(RouteMatcher.firstMatch(in: host, path: "/health?verbose", headers: Headers())?.name == "exact")
        #expect(RouteMatcher.firstMatch(in: host, path: "/health/x", headers: Headers()) == nil)
        #expect(RouteMatcher.firstMatch(in: host, path: "/users/42?a=b", headers: Headers())?.name == "regex")
        #expect(RouteMatcher.firstMatch(in: host, path: "/users/42x", headers: Headers()) == nil, "regex must match the whole path")
    }

    @Test func caseInsensitivePrefix() {
        let host = VirtualHost(name: "h", domains: ["*"], routes: [route("api", .prefix("/API"), caseSensitive: false)])
        #expect(RouteMatcher.firstMatch(in: host, path: "/api/x", headers: Headers())?.name == "api")
    }

    @Test func headerMatchersAllMustMatch() throws {
        let matchers = [
            HeaderMatcher(name: "x-env", rule: .exact("canary", ignoreCase: false)),
            HeaderMatcher(name: "user-agent", rule: .regex(try CompiledRegex(".*Mobile.*"))),
        ]
        let host = VirtualHost(name: "h", domains: ["*"], routes: [route("both", .prefix("/"), headers: matchers)])
        #expect(RouteMatcher.firstMatch(in: host, path: "/", headers: Headers([("x-env", "canary"), ("user-agent", "a Mobile b")])) != nil)
        #expect(RouteMatcher.firstMatch(in: host, path: "/", headers: Headers([("x-env", "canary"), ("user-agent", "desktop")])) == nil)
        #expect(RouteMatcher.firstMatch(in: host, path: "/", headers: Headers([("user-agent", "Mobile")])) == nil)
    }

    @Test(arguments: [
        (HeaderMatcher.Rule.prefix("ab", ignoreCase: false), "abc", true),
        (.prefix("AB", ignoreCase: true), "abc", true),
        (.suffix("bc", ignoreCase: false), "abc", true),
        (.suffix("x", ignoreCase: false), "abc", false),
        (.contains("b", ignoreCase: false), "abc", true),
        (.exact("abc", ignoreCase: false), "ABC", false),
        (.exact("abc", ignoreCase: true), "ABC", true),
    ])
    func stringRules(rule: HeaderMatcher.Rule, value: String, expected: Bool) {
        let matcher = HeaderMatcher(name: "x", rule: rule)
        #expect(HeaderMatching.matches(matcher, headers: Headers([("x", value)])) == expected)
    }

    @Test func presentInvertAndMissing() {
        let present = HeaderMatcher(name: "x", rule: .present(true))
        let absent = HeaderMatcher(name: "x", rule: .present(false))
        let inverted = HeaderMatcher(name: "x", rule: .exact("a", ignoreCase: false), invert: true)
        let missingAsEmpty = HeaderMatcher(name: "x", rule: .exact("", ignoreCase: false), treatMissingAsEmpty: true)
        #expect(HeaderMatching.matches(present, headers: Headers([("x", "")])))
        #expect(!HeaderMatching.matches(present, headers: Headers()))
        #expect(HeaderMatching.matches(absent, headers: Headers()))
        #expect(HeaderMatching.matches(inverted, headers: Headers([("x", "b")])))
        #expect(!HeaderMatching.matches(inverted, headers: Headers([("x", "a")])))
        #expect(!HeaderMatching.matches(inverted, headers: Headers()), "a missing header never matches, inverted or not")
        #expect(HeaderMatching.matches(missingAsEmpty, headers: Headers()))
    }

    @Test func multipleValuesAreJoinedWithCommas() {
        let matcher = HeaderMatcher(name: "x", rule: .exact("a,b", ignoreCase: false))
        #expect(HeaderMatching.matches(matcher, headers: Headers([("x", "a"), ("x", "b")])))
    }
}

struct VirtualHostSelectorTests {
    let table = RouteTable(name: "t", virtualHosts: [
        VirtualHost(name: "exact", domains: ["api.example.com"], routes: []),
        VirtualHost(name: "suffix-long", domains: ["*.api.example.com"], routes: []),
        VirtualHost(name: "suffix", domains: ["*.example.com"], routes: []),
        VirtualHost(name: "prefix", domains: ["api.*"], routes: []),
        VirtualHost(name: "default", domains: ["*"], routes: []),
    ])

    @Test(arguments: [
        ("api.example.com", "exact"),
        ("API.Example.com", "exact"),
        ("v1.api.example.com", "suffix-long"),
        ("www.example.com", "suffix"),
        ("api.other.org", "prefix"),
        ("unknown.org", "default"),
        ("example.com", "default"),
    ])
    func domainOrder(authority: String, expected: String) {
        #expect(VirtualHostSelector.select(in: table, authority: authority)?.name == expected)
    }

    @Test func noDefaultMeansNoHost() {
        let strict = RouteTable(name: "t", virtualHosts: [VirtualHost(name: "a", domains: ["a.com"], routes: [])])
        #expect(VirtualHostSelector.select(in: strict, authority: "b.com") == nil)
    }
}

struct WeightedPickerTests {
    @Test func everyPointLandsInItsCumulativeRange() {
        let target = ClusterTarget.weighted([.init(name: "a", weight: 90), .init(name: "zero", weight: 0), .init(name: "b", weight: 10)], totalWeight: 100)
        var counts: [String: Int] = [:]
        for point in 0..<100 {
            counts[WeightedPicker.pick(target, random: UInt64(point)), default: 0] += 1
        }
        #expect(counts == ["a": 90, "b": 10])
    }

    @Test func singleTarget() {
        #expect(WeightedPicker.pick(.single("x"), random: 12345) == "x")
    }

    @Test func prefixRewriteKeepsTheRest() {
        let match = RouteMatch(path: .prefix("/v1/"))
        #expect(PathRewriter.rewrite(path: "/v1/users?id=7", match: match, prefixRewrite: "/internal/") == "/internal/users?id=7")
        #expect(PathRewriter.rewrite(path: "/v1/users", match: match, prefixRewrite: nil) == "/v1/users")
        let exact = RouteMatch(path: .path("/old"))
        #expect(PathRewriter.rewrite(path: "/old?q", match: exact, prefixRewrite: "/new") == "/new?q")
    }
}

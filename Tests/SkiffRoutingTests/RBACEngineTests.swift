import SkiffCore
import SkiffRouting
import Testing

/// RBAC decisions on the shapes Istio's AuthorizationPolicy compiles to.
struct RBACEngineTests {
    static let frontend = "spiffe://cluster.local/ns/default/sa/frontend"

    static func subject(path: String, peer: String?, ip: String = "10.0.0.7") -> RBACEngine.Subject {
        RBACEngine.Subject(path: path, remoteIP: ip, localPort: 8080, peerURIs: peer.map { [$0] } ?? [], authenticated: peer != nil)
    }

    @Test func allowNeedsAPolicyWhosePermissionAndPrincipalBothMatch() {
        let policy = RBACPolicy(
            name: "ns[default]-policy[api]-rule[0]",
            permissions: [.and([.or([.urlPath(.prefix("/api", ignoreCase: false))])])],
            principals: [.and([.or([.authenticated(.exact(Self.frontend, ignoreCase: false))])])]
        )
        let rules = RBACRules(action: .allow, policies: [policy])
        #expect(RBACEngine.evaluate(rules, Self.subject(path: "/api/users", peer: Self.frontend)) == .init(allowed: true, policy: policy.name))
        #expect(!RBACEngine.evaluate(rules, Self.subject(path: "/admin", peer: Self.frontend)).allowed)
        #expect(!RBACEngine.evaluate(rules, Self.subject(path: "/api", peer: "spiffe://cluster.local/ns/default/sa/other")).allowed)
        #expect(!RBACEngine.evaluate(rules, Self.subject(path: "/api", peer: nil)).allowed, "plaintext: not authenticated")
        #expect(!RBACEngine.evaluate(RBACRules(action: .allow, policies: []), Self.subject(path: "/", peer: nil)).allowed)
    }

    @Test func denyRefusesWhatMatchesAndNotInverts() {
        let rules = RBACRules(action: .deny, policies: [
            RBACPolicy(name: "block", permissions: [.not(.destinationPort(9090))], principals: [.remoteIP(CIDRRange("10.0.0.0", prefixLength: 8)!)]),
        ])
        #expect(!RBACEngine.evaluate(rules, Self.subject(path: "/", peer: nil)).allowed)
        #expect(RBACEngine.evaluate(rules, Self.subject(path: "/", peer: nil, ip: "192.168.1.1")).allowed)
        #expect(RBACEngine.evaluate(RBACRules(action: .log, policies: rules.policies), Self.subject(path: "/", peer: nil)).allowed)
    }

    @Test func cidrRangesCoverIPv4AndIPv6() {
        let v4 = CIDRRange("192.168.0.0", prefixLength: 20)!
        #expect(v4.contains("192.168.15.255") && !v4.contains("192.168.16.0") && !v4.contains("::1"))
        let v6 = CIDRRange("fd00::", prefixLength: 8)!
        #expect(v6.contains("fd12:3456::1") && !v6.contains("fe80::1"))
        #expect(CIDRRange("::1", prefixLength: nil)!.contains("0:0:0:0:0:0:0:1"))
        // IPv4 clients of a `::` listener appear IPv4-mapped: IPv4 ranges still match them.
        #expect(v4.contains("::ffff:192.168.15.1") && v4.contains("::ffff:c0a8:0f01"))
        #expect(CIDRRange("10.0.0.1", prefixLength: 33) == nil && CIDRRange("not-an-ip", prefixLength: 8) == nil)
    }

    /// Envoy's `principal_name` tries the URI SANs, then the DNS SANs, then the subject.
    @Test func principalNameFallsBackToDNSAndSubject() {
        let rules = { (name: String) in
            RBACRules(action: .allow, policies: [RBACPolicy(name: "p", permissions: [.any], principals: [.authenticated(.exact(name, ignoreCase: false))])])
        }
        let subject = RBACEngine.Subject(peerURIs: ["spiffe://a/b"], peerDNSNames: ["svc.local"], peerSubject: "CN=svc", authenticated: true)
        #expect(RBACEngine.evaluate(rules("spiffe://a/b"), subject).allowed)
        #expect(RBACEngine.evaluate(rules("svc.local"), subject).allowed)
        #expect(RBACEngine.evaluate(rules("CN=svc"), subject).allowed)
        #expect(!RBACEngine.evaluate(rules("other"), subject).allowed)
    }
}

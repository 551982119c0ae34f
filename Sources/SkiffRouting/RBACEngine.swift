import SkiffCore

/// Evaluates RBAC rules against one request or connection (Envoy's RBAC engine). Pure.
public enum RBACEngine {
    /// What is known about the request or connection.
    public struct Subject {
        /// Request headers (nil for a connection).
        public var headers: (any RequestHeaderView)?
        /// The request path without its query.
        public var path: String?
        public var remoteIP: String?
        public var localIP: String?
        public var localPort: Int?
        public var serverName: String?
        /// The verified peer certificate's URI and DNS SANs and subject (nil: none).
        public var peerURIs: [String]
        public var peerDNSNames: [String]
        public var peerSubject: String?
        public var authenticated: Bool

        public init(
            headers: (any RequestHeaderView)? = nil, path: String? = nil, remoteIP: String? = nil, localIP: String? = nil,
            localPort: Int? = nil, serverName: String? = nil, peerURIs: [String] = [], peerDNSNames: [String] = [],
            peerSubject: String? = nil, authenticated: Bool = false
        ) {
            self.headers = headers
            self.path = path
            self.remoteIP = remoteIP
            self.localIP = localIP
            self.localPort = localPort
            self.serverName = serverName
            self.peerURIs = peerURIs
            self.peerDNSNames = peerDNSNames
            self.peerSubject = peerSubject
            self.authenticated = authenticated
        }
    }

    public struct Decision: Equatable, Sendable {
        public var allowed: Bool
        /// The policy that decided (nil: none matched).
        public var policy: String?

        public init(allowed: Bool, policy: String?) {
            self.allowed = allowed
            self.policy = policy
        }
    }

    public static func evaluate(_ rules: RBACRules, _ subject: Subject) -> Decision {
        let matched = rules.policies.first { policy in
            policy.permissions.contains { permits($0, subject) } && policy.principals.contains { identifies($0, subject) }
        }
        switch rules.action {
        case .allow: return Decision(allowed: matched != nil, policy: matched?.name)
        case .deny: return Decision(allowed: matched == nil, policy: matched?.name)
        case .log: return Decision(allowed: true, policy: matched?.name)
        }
    }

    static func permits(_ permission: RBACPermission, _ subject: Subject) -> Bool {
        switch permission {
        case .any: return true
        case .and(let all): return all.allSatisfy { permits($0, subject) }
        case .or(let any): return any.contains { permits($0, subject) }
        case .not(let inner): return !permits(inner, subject)
        case .header(let matcher): return header(matcher, subject)
        case .urlPath(let rule): return path(rule, subject)
        case .destinationIP(let range):
            return subject.localIP.map(range.contains) ?? false
        case .destinationPort(let port):
            return subject.localPort == port
        case .destinationPortRange(let range):
            return subject.localPort.map(range.contains) ?? false
        case .requestedServerName(let rule):
            return HeaderMatching.evaluate(rule, subject.serverName ?? "")
        }
    }

    static func identifies(_ principal: RBACPrincipal, _ subject: Subject) -> Bool {
        switch principal {
        case .any: return true
        case .and(let all): return all.allSatisfy { identifies($0, subject) }
        case .or(let any): return any.contains { identifies($0, subject) }
        case .not(let inner): return !identifies(inner, subject)
        case .authenticated(let rule):
            guard subject.authenticated else { return false }
            guard let rule else { return true }
            // Envoy tries the URI SANs, then the DNS SANs, then the subject.
            return subject.peerURIs.contains { HeaderMatching.evaluate(rule, $0) }
                || subject.peerDNSNames.contains { HeaderMatching.evaluate(rule, $0) }
                || HeaderMatching.evaluate(rule, subject.peerSubject ?? "")
        case .directRemoteIP(let range), .remoteIP(let range):
            return subject.remoteIP.map(range.contains) ?? false
        case .header(let matcher): return header(matcher, subject)
        case .urlPath(let rule): return path(rule, subject)
        }
    }

    /// Permissions and principals match headers and paths alike (never on a bare connection).
    static func header(_ matcher: HeaderMatcher, _ subject: Subject) -> Bool {
        subject.headers.map { HeaderMatching.matches(matcher, headers: $0) } ?? false
    }

    static func path(_ rule: HeaderMatcher.Rule, _ subject: Subject) -> Bool {
        subject.path.map { HeaderMatching.evaluate(rule, $0) } ?? false
    }
}

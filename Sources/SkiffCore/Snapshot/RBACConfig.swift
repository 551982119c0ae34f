/// An IP range (`envoy.config.core.v3.CidrRange`).
public struct CIDRRange: Sendable, Equatable {
    public var address: [UInt8]
    public var prefixLength: Int

    /// Nil when `address` is not an IP literal or the prefix is out of range.
    public init?(_ address: String, prefixLength: Int?) {
        guard let bytes = IPBytes.parse(address) else { return nil }
        let length = prefixLength ?? bytes.count * 8
        guard (0...(bytes.count * 8)).contains(length) else { return nil }
        self.address = bytes
        self.prefixLength = length
    }

    public func contains(_ ip: String) -> Bool {
        guard let bytes = IPBytes.parse(ip), bytes.count == address.count else { return false }
        var remaining = prefixLength
        for index in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != address[index] & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// IPv4 / IPv6 text to bytes, without touching the network stack.
public enum IPBytes {
    /// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, how IPv4 clients of a `::` listener appear) comes
    /// back as IPv4, so IPv4 ranges match them, as in Envoy.
    public static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") {
            if text.lowercased().hasPrefix("::ffff:"), text.contains(".") {
                return parse(String(text.dropFirst(7)))
            }
            guard let bytes = v6(text) else { return nil }
            if bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes.suffix(4)) }
            return bytes
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    static func v6(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        // Split once at "::" (the run of zero groups), without Foundation.
        var halves = [String(text)]
        let chars = Array(text)
        if let gap = chars.indices.dropLast().first(where: { chars[$0] == ":" && chars[$0 + 1] == ":" }) {
            halves = [String(chars[..<gap]), String(chars[(gap + 2)...])]
            guard !halves[1].hasPrefix(":"), !halves[1].contains("::") else { return nil }
        }
        func groups(_ part: String) -> [UInt16]? {
            guard !part.isEmpty else { return [] }
            var out: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard let value = UInt16(group, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

/// `envoy.config.rbac.v3.Permission`: what a request or connection does.
public indirect enum RBACPermission: Sendable {
    case any
    case and([RBACPermission])
    case or([RBACPermission])
    case not(RBACPermission)
    case header(HeaderMatcher)
    /// `url_path`: the path without its query.
    case urlPath(HeaderMatcher.Rule)
    case destinationIP(CIDRRange)
    case destinationPort(Int)
    /// `destination_port_range`: `[start, end)`.
    case destinationPortRange(Range<Int>)
    case requestedServerName(HeaderMatcher.Rule)
}

/// `envoy.config.rbac.v3.Principal`: who is asking.
public indirect enum RBACPrincipal: Sendable {
    case any
    case and([RBACPrincipal])
    case or([RBACPrincipal])
    case not(RBACPrincipal)
    /// `authenticated`: a verified peer certificate whose URI SAN, else DNS SAN, else subject
    /// matches; nil matches any verified peer.
    case authenticated(HeaderMatcher.Rule?)
    /// `direct_remote_ip` / `source_ip`: the connection's peer address.
    case directRemoteIP(CIDRRange)
    /// `remote_ip`: the original client (the connection's peer, as Skiff does not trust
    /// `x-forwarded-for` for this).
    case remoteIP(CIDRRange)
    case header(HeaderMatcher)
    case urlPath(HeaderMatcher.Rule)
}

/// One named policy: it matches when any permission and any principal match.
public struct RBACPolicy: Sendable {
    public var name: String
    public var permissions: [RBACPermission]
    public var principals: [RBACPrincipal]

    public init(name: String, permissions: [RBACPermission], principals: [RBACPrincipal]) {
        self.name = name
        self.permissions = permissions
        self.principals = principals
    }
}

/// `envoy.config.rbac.v3.RBAC`: ALLOW lets through only what a policy matches, DENY refuses
/// what a policy matches, LOG lets everything through.
public struct RBACRules: Sendable {
    public enum Action: Sendable { case allow, deny, log }

    public var action: Action
    /// Policies in name order, as Envoy evaluates its policy map.
    public var policies: [RBACPolicy]

    public init(action: Action, policies: [RBACPolicy]) {
        self.action = action
        self.policies = policies
    }
}

/// An RBAC filter (HTTP or network): enforced rules and shadow rules, with their stat prefixes.
public struct RBACFilterConfig: Sendable {
    public var rules: RBACRules?
    public var shadowRules: RBACRules?
    /// Network filter: `stat_prefix` (stats under `<stat_prefix>.rbac.`).
    public var statPrefix: String
    public var rulesStatPrefix: String
    public var shadowRulesStatPrefix: String

    public init(rules: RBACRules?, shadowRules: RBACRules?, statPrefix: String = "", rulesStatPrefix: String = "", shadowRulesStatPrefix: String = "") {
        self.rules = rules
        self.shadowRules = shadowRules
        self.statPrefix = statPrefix
        self.rulesStatPrefix = rulesStatPrefix
        self.shadowRulesStatPrefix = shadowRulesStatPrefix
    }
}

import NIOCore
import SkiffCore

/// One listener's current configuration on one worker, and the connections it accepted.
///
/// The accept path reads `config` for every new connection, so a listener update changes what
/// new connections get without rebinding the socket. Each connection is registered under the
/// fingerprint of the filter chain it runs; an update drains only the connections whose chain
/// is gone or changed (Envoy drains every connection of the listener, issue 35109), and a
/// removal drains them all.
public final class ActiveListener {
    public private(set) var config: ListenerConfig {
        didSet { addressBytes = IPBytes.parse(config.address.host) }
    }
    /// `config.address`'s IP as bytes, parsed once: `use_original_dst` hand-offs compare it for
    /// every redirected connection.
    public private(set) var addressBytes: [UInt8]?
    private var connections: [ObjectIdentifier: Registered] = [:]

    struct Registered {
        var fingerprint: UInt64
        var drain: (NIODeadline) -> Void
    }

    public init(config: ListenerConfig) {
        self.config = config
        addressBytes = IPBytes.parse(config.address.host)
    }

    public var connectionCount: Int { connections.count }
    /// Connections accepted for this listener and not yet closed (drained ones included): a
    /// drain is over when this is 0 on every worker.
    public var openConnections = 0

    /// Set while the server drains (`--drain-strategy gradual`: the socket still accepts):
    /// connections accepted now drain from the start (their first response closes them).
    public private(set) var drainingUntil: NIODeadline?

    /// Records an accepted connection; `drain` is called at most once, with the time by which
    /// the connection must be closed.
    public func register(_ id: ObjectIdentifier, fingerprint: UInt64, drain: @escaping (NIODeadline) -> Void) {
        if let deadline = drainingUntil {
            drain(deadline)
            return
        }
        connections[id] = Registered(fingerprint: fingerprint, drain: drain)
    }

    /// The server drains: every connection now and every one accepted from now on.
    @discardableResult
    public func startDraining(by deadline: NIODeadline) -> Int {
        drainingUntil = deadline
        return drainAll(by: deadline)
    }

    public func unregister(_ id: ObjectIdentifier) {
        connections.removeValue(forKey: id)
    }

    /// Takes a new configuration; connections on chains that changed start draining. Returns
    /// how many connections were asked to drain.
    @discardableResult
    public func update(_ next: ListenerConfig, drainBy deadline: NIODeadline) -> Int {
        let kept = Set(next.filterChains.map(\.fingerprint))
        config = next
        return drain(where: { !kept.contains($0) }, by: deadline)
    }

    /// The listener is going away: every connection drains.
    @discardableResult
    public func drainAll(by deadline: NIODeadline) -> Int {
        drain(where: { _ in true }, by: deadline)
    }

    private func drain(where matches: (UInt64) -> Bool, by deadline: NIODeadline) -> Int {
        let chosen = connections.filter { matches($0.value.fingerprint) }
        for (id, entry) in chosen {
            connections.removeValue(forKey: id)
            entry.drain(deadline)
        }
        return chosen.count
    }
}

@available(*, unavailable)
extension ActiveListener: Sendable {}

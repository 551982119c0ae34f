import SkiffCore

/// The current route table of one RDS name on one worker.
///
/// Connections whose connection manager uses `rds` hold the slot, not the table, and read
/// `table` once per request: a route or weight change applies to the next request on every
/// existing connection without touching the connection.
public final class RouteSlot {
    public private(set) var table: RouteTable
    /// Whether the control plane has delivered this route configuration yet.
    public private(set) var received: Bool

    init(name: String) {
        self.table = RouteTable(name: name, virtualHosts: [])
        self.received = false
    }

    func replace(_ table: RouteTable) {
        self.table = table
        self.received = true
    }
}

/// The RDS route tables of one worker, by `route_config_name`. Lives on the worker's loop.
public final class RouteRegistry {
    private var slots: [String: RouteSlot] = [:]

    public init() {}

    /// The slot for `name`, created empty (every request 404 NR) until routes arrive.
    public func slot(named name: String) -> RouteSlot {
        if let slot = slots[name] { return slot }
        let slot = RouteSlot(name: name)
        slots[name] = slot
        return slot
    }

    public func update(_ name: String, table: RouteTable) {
        slot(named: name).replace(table)
    }

    /// Forgets route tables no listener uses any more (connections still holding a slot keep it).
    public func retain(only names: Set<String>) {
        slots = slots.filter { names.contains($0.key) }
    }
}

@available(*, unavailable)
extension RouteSlot: Sendable {}

@available(*, unavailable)
extension RouteRegistry: Sendable {}

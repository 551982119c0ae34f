/// Back-pressure on one channel's reads, as every proxying handler needs it: while held, a
/// `read()` passing through the handler is remembered instead of sent on, and sent once released.
/// This is how a full write buffer on one side of the proxy stops reading on the other side
/// without any buffering in between.
///
/// The gate only decides; the handler calls `context.read()` itself, outside the mutation: a read
/// can deliver data synchronously (an HTTP/2 stream's buffered frames), whose handling may hold
/// or release the gate again.
public struct ReadGate {
    public private(set) var isHeld: Bool
    private var pending = false

    public init(held: Bool = false) {
        self.isHeld = held
    }

    /// From the handler's `read(context:)`: true to pass the read on now; false when held (the
    /// read is remembered).
    @inline(__always)
    public mutating func admit() -> Bool {
        if isHeld {
            pending = true
            return false
        }
        return true
    }

    /// Holds or releases reads; true when a read remembered while held must be sent now.
    @discardableResult
    public mutating func set(held: Bool) -> Bool {
        isHeld = held
        if !held, pending {
            pending = false
            return true
        }
        return false
    }
}

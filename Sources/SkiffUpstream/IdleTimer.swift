import NIOCore
import SkiffCore

/// "Nothing happened for `timeout`", without a timer operation per event.
///
/// Activity only records a timestamp (`touch`). One scheduled task is pending at a time; when it
/// fires early (there was activity since), it re-arms itself for the remainder. Pausing
/// (`suspend`) leaves the task pending and it lapses harmlessly, so a keep-alive connection that
/// goes idle and busy a thousand times a second schedules about one task per timeout period
/// instead of one per request.
public final class IdleTimer {
    private let eventLoop: any EventLoop
    private var timeout: TimeAmount
    private let onExpiry: () -> Void
    private var lastActivity: UInt64 = 0
    private var pending: Scheduled<Void>?
    private var armed = false

    /// `onExpiry` runs on `eventLoop`; it must not retain the timer's owner strongly.
    public init(eventLoop: any EventLoop, timeout: TimeAmount, onExpiry: @escaping () -> Void) {
        self.eventLoop = eventLoop
        self.timeout = timeout
        self.onExpiry = onExpiry
    }

    /// Starts (or restarts) measuring idleness from now.
    public func resume() {
        armed = true
        touch()
        if pending == nil {
            schedule(after: timeout)
        }
    }

    /// Records activity.
    @inline(__always)
    public func touch() {
        lastActivity = ContinuousClockReading.now()
    }

    /// Changes the timeout (a route's `idle_timeout` replacing the connection manager's); a
    /// shorter one takes effect at once.
    public func retime(_ newTimeout: TimeAmount) {
        guard newTimeout != timeout else { return }
        let shorter = newTimeout < timeout
        timeout = newTimeout
        if shorter, pending != nil {
            pending?.cancel()
            schedule(after: newTimeout)
        }
    }

    /// Stops measuring until the next `resume`; the pending task lapses when it fires.
    public func suspend() {
        armed = false
    }

    /// Stops for good and releases the pending task (call when the owner goes away).
    public func cancel() {
        armed = false
        pending?.cancel()
        pending = nil
    }

    private func schedule(after delay: TimeAmount) {
        pending = eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay) { [self] in
            fire()
        }
    }

    private func fire() {
        pending = nil
        guard armed else { return }
        let idle = Int64(ContinuousClockReading.now() &- lastActivity)
        if idle >= timeout.nanoseconds {
            armed = false
            onExpiry()
        } else {
            schedule(after: .nanoseconds(timeout.nanoseconds - idle))
        }
    }
}

@available(*, unavailable)
extension IdleTimer: Sendable {}

import Synchronization

/// Wakes a background loop (health checks, outlier detection's interval tick) early when the
/// clusters change, so the loop can otherwise sleep until its next check is due.
///
/// Why: those loops used to poll every 20 ms — 100 wake-ups a second on an idle sidecar, a
/// thread hop each, multiplied by thousands of sidecars per cluster. Now an idle Skiff sleeps
/// until a check is due (or `longest`), and a cluster added by the control plane is probed at
/// once rather than at the next poll.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next `wait` if none is waiting now.
    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns after `duration`, when rung, or when the task is cancelled, whichever is first.
    /// One waiter at a time.
    func wait(for duration: Duration) async {
        if state.withLock({ state in defer { state.rung = false }; return state.rung }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.rung() }
            await group.next()
            group.cancelAll()
        }
    }

    private func rung() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

import NIOCore
import SkiffCore
import SkiffUpstream
import SkiffTransport

/// `--drain-strategy`: whether listening sockets keep accepting while connections drain.
public enum DrainStrategy: String, Sendable, CaseIterable {
    /// Keep accepting until the drain ends (a client that still has the old endpoint connects
    /// and is served, its response closing the connection): no refused connections in a rollout.
    case gradual
    /// Stop accepting at once; only connections already open are served.
    case immediate
}

extension SkiffServer {
    /// The shutdown drain (SIGTERM, `/quitquitquit`): drains every listener and returns when
    /// their connections are gone or the drain time is up.
    ///
    /// `/ready` answers 503 from the first moment. Every connection is asked to drain: HTTP/1.1
    /// answers its next response with `connection: close` (an idle one closes after 5 s),
    /// HTTP/2 sends GOAWAY and closes once its streams finish, TCP proxying runs until the
    /// deadline. With `gradual` the listening sockets keep accepting (new connections drain from
    /// the start) and close at the end; with `immediate` they close first.
    public func drainListeners() async {
        let names = state.withLock { state -> [String] in
            state.live = false
            state.draining = true
            return Array(state.listenerConfigs.keys)
        }
        options.logger.info("draining \(names.count) listeners for up to \(options.drainTime.nanoseconds / 1_000_000) ms (\(options.drainStrategy.rawValue))")
        if options.drainStrategy == .immediate {
            await stopListeners(names)
        }
        await drainConnections(of: names)
        await stopListeners(names)
    }

    /// Asks every connection of `names` to drain (and every one accepted from now on) and waits
    /// until none is open or the drain time is up; with `fullTime`, for the whole drain time (the
    /// admin drain keeps accepting until then, as Envoy's does).
    func drainConnections(of names: [String], fullTime: Bool = false) async {
        let deadline = NIODeadline.now() + options.drainTime
        for worker in workers {
            try? await worker.eventLoop.submit {
                for name in names { worker.value.listeners[name]?.startDraining(by: deadline) }
            }.get()
        }
        while NIODeadline.now() < deadline {
            let open = await perWorker { worker in names.reduce(0) { $0 + (worker.listeners[$1]?.openConnections ?? 0) } }
            if open.reduce(0, +) == 0, !fullTime { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Closes the listening sockets of `names` (connections already accepted go on), counting
    /// `listener_manager.listener_stopped` once per listener.
    func stopListeners(_ names: [String]) async {
        let sockets = state.withLock { state -> [any Channel] in
            var sockets: [any Channel] = []
            for name in names where !state.stoppedListeners.contains(name) {
                guard let bound = state.listeners[name], !bound.channels.isEmpty else { continue }
                state.stoppedListeners.insert(name)
                sockets += bound.channels
            }
            return sockets
        }
        for channel in sockets {
            try? await channel.close()
        }
    }

    /// `POST /healthcheck/fail` and `/healthcheck/ok`: while failed, `/ready` answers 503 and
    /// every HTTP/1.1 response carries `connection: close` (Envoy's drain-close on a failed health
    /// check), so load balancers and clients move away without a restart.
    public func setHealthCheckFailed(_ failed: Bool) async {
        state.withLock { $0.healthCheckFailed = failed }
        for worker in workers {
            try? await worker.eventLoop.submit { worker.value.drainClose = failed }.get()
        }
    }

    /// `POST /drain_listeners[?graceful][&inboundonly][&skip_exit]`, as Envoy 1.40 behaves:
    /// without `graceful` the listeners stop accepting now (their connections go on); with it
    /// their connections drain (listeners still accepting, `/ready` still LIVE) and the
    /// listeners stop when the drain time is up, unless `skip_exit`. `skip_exit` without
    /// `graceful` does nothing. A second graceful request while one runs is ignored.
    public func drainListenersRequested(graceful: Bool, inboundOnly: Bool, skipExit: Bool) {
        guard graceful || !skipExit else { return }
        let names = state.withLock { state -> [String]? in
            if graceful {
                guard !state.adminDrainStarted else { return nil }
                state.adminDrainStarted = true
            }
            return state.listenerConfigs.filter { !inboundOnly || $0.value.trafficDirection == .inbound }.map(\.key)
        }
        guard let names else { return }
        Task {
            if graceful {
                options.logger.info("draining \(names.count) listeners for \(options.drainTime.nanoseconds / 1_000_000) ms (admin)")
                await drainConnections(of: names, fullTime: true)
                if skipExit { return }
            }
            await stopListeners(names)
        }
    }
}

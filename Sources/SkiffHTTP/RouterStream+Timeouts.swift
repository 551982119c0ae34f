import NIOCore
import SkiffCore
import SkiffTelemetry

/// Stream-wide timers: the route's `idle_timeout`, `max_stream_duration` and the gRPC
/// `grpc-timeout` it may defer to, and the per-try idle timeout of an attempt.
extension RouterStream {
    /// The stream duration Envoy applies once a route is chosen: with `grpc_timeout_header_max`
    /// set and a `grpc-timeout` on the request, the header's value (capped unless the max is
    /// zero, less `grpc_timeout_header_offset`); else the route's `max_stream_duration`; else
    /// the connection manager's. Nil or zero: no limit.
    static func streamDuration(_ action: ForwardAction, grpcTimeout: TimeAmount?, connectionManager: TimeAmount?) -> TimeAmount? {
        if let headerMax = action.grpcTimeoutHeaderMax, let grpcTimeout {
            var timeout = grpcTimeout
            if headerMax > .zero, timeout > headerMax { timeout = headerMax }
            if timeout > .zero, let offset = action.grpcTimeoutHeaderOffset {
                timeout = offset < timeout ? timeout - offset : .zero
            }
            return timeout > .zero ? timeout : nil
        }
        if let routeLimit = action.maxStreamDuration {
            return routeLimit > .zero ? routeLimit : nil
        }
        return connectionManager
    }

    /// Applies the route's stream idle timeout and starts the stream duration timer.
    func armStreamTimers(_ action: ForwardAction) {
        if let idle = action.idleTimeout {
            connection.overrideStreamIdleTimeout(idle > .zero ? idle : nil)
        }
        // Envoy reads `grpc-timeout` whatever the content type.
        let grpcTimeout = action.grpcTimeoutHeaderMax != nil ? GRPCMessage.timeout(request.headers) : nil
        guard let duration = Self.streamDuration(action, grpcTimeout: grpcTimeout, connectionManager: config.maxStreamDuration) else {
            return
        }
        durationTimer = worker.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: duration) { [self] in
            self.durationTimer = nil
            if case .done = self.phase { return }
            self.connection.stats.increment(HTTPStat.rqMaxDurationReached)
            self.fail(ProxyError(.durationTimeout(requestComplete: self.requestComplete)))
        }
    }

    /// `per_try_idle_timeout`: armed when an attempt's request is sent, it ends the attempt when
    /// no response bytes arrive for that long (retried like a per-try timeout).
    func armPerTryIdleTimer() {
        guard perTryIdleTimer == nil, let timeout = perTryIdleTimeout else { return }
        lastUpstreamActivity = ContinuousClockReading.now()
        schedulePerTryIdle(after: timeout, attempt: attempt)
    }

    private func schedulePerTryIdle(after delay: TimeAmount, attempt thisAttempt: Int) {
        perTryIdleTimer = worker.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay) { [self] in
            self.perTryIdleTimer = nil
            guard thisAttempt == self.attempt, case .forwarding = self.phase, let timeout = self.perTryIdleTimeout else {
                return
            }
            let idle = Int64(ContinuousClockReading.now() &- self.lastUpstreamActivity)
            if idle < timeout.nanoseconds {
                self.schedulePerTryIdle(after: .nanoseconds(timeout.nanoseconds - idle), attempt: thisAttempt)
                return
            }
            self.cluster?.stats.increment(ClusterStat.rqPerTryIdleTimeout)
            if !self.responseStarted, let host = self.host {
                self.cluster?.recordOutcome(.noResponse, host: host, random: self.worker.random.next())
            }
            if self.retryIfAllowed(.perTryTimeout) { return }
            self.cluster?.stats.increment(ClusterStat.rqTimeout)
            self.fail(ProxyError(.upstreamTimeout), timedOut: true)
        }
    }

    var perTryIdleTimeout: TimeAmount? {
        retry?.policy.perTryIdleTimeout ?? forward?.retryPolicy?.perTryIdleTimeout
    }

    /// Upstream bytes moved on this attempt (per-try idle timeout).
    @inline(__always)
    func upstreamTouched() {
        if perTryIdleTimer != nil { lastUpstreamActivity = ContinuousClockReading.now() }
    }

    func cancelTimers() {
        routeTimer?.cancel()
        perTryTimer?.cancel()
        backoffTimer?.cancel()
        durationTimer?.cancel()
        durationTimer = nil
        perTryIdleTimer?.cancel()
        perTryIdleTimer = nil
    }
}

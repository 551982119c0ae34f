import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffRouting
import SkiffTelemetry
import SkiffUpstream

/// Retries: the replay buffer, the decision to abandon an attempt, back-off and the per-try
/// timeout (`RetryState` decides; this runs it on the stream's loop).
extension RouterStream {
    // MARK: Retries

    /// Keeps a request part for replay while retries are possible.
    func keepForReplay(_ part: HTTPClientRequestPart, bytes: Int) {
        guard retry != nil || mayResend else { return }
        replayBytes += bytes
        if replayBytes > Self.retryBufferLimit, case .forwarding = phase {
            // Too large to replay: this request will not be retried (nor sent again if refused).
            if retry != nil { cluster?.stats.increment(ClusterStat.retryOrShadowAbandoned) }
            retry = nil
            mayResend = false
            replay = []
            return
        }
        replay.append(part)
    }

    /// An HTTP/2 upstream refused the stream (REFUSED_STREAM, a GOAWAY that cut it off, or an
    /// `auto_config` host that chose HTTP/1.1): the server did not process it, so it is sent
    /// again at once on another stream or connection — no retry policy needed, no retry
    /// budget spent — up to `maxResends` times.
    func resendIfRefused(_ error: ProxyError) -> Bool {
        guard error.kind == .refusedStream, !responseStarted, mayResend,
              resends < Self.maxResends else { return false }
        resends += 1
        abandonAttempt()
        startAttempt()
        return true
    }

    /// Drops the current attempt (its timers, its upstream exchange) before another one.
    func abandonAttempt() {
        perTryTimer?.cancel()
        perTryTimer = nil
        perTryIdleTimer?.cancel()
        perTryIdleTimer = nil
        if case .forwarding(let upstream) = phase {
            upstream.abort()
        }
        finishUpstream(success: false)
        phase = .connecting
    }

    /// Abandons the current attempt and schedules the next one if the policy allows; false
    /// means the caller handles the failure as final.
    func retryIfAllowed(_ failure: RetryState.Failure? = nil, status: Int? = nil, headers: HTTPHeaders? = nil) -> Bool {
        guard var state = retry, !responseStarted else { return false }
        let retriable: Bool
        if let status {
            retriable = state.wouldRetry(status: status, headers: headers ?? HTTPHeaders())
        } else if let failure {
            retriable = state.wouldRetry(failure)
        } else {
            retriable = false
        }
        guard retriable else { return false }
        guard state.consume() else {
            cluster?.stats.increment(ClusterStat.rqRetryLimitExceeded)
            log?.responseFlags.append(.upstreamRetryLimitExceeded)
            return false
        }
        if !retrySlotHeld, let cluster {
            let limit = cluster.config.circuitBreakers.retryLimit(
                activeRequests: cluster.resources.inUse(.requests), pendingRequests: cluster.resources.inUse(.pendingRequests)
            )
            guard cluster.resources.tryAcquire(.retries, limit: limit) else {
                cluster.stats.increment(ClusterStat.rqRetryOverflow)
                log?.responseFlags.append(.upstreamOverflow)  // Envoy flags a retry shed by the budget UO.
                return false
            }
            retrySlotHeld = true
        }
        retry = state
        abandonAttempt()
        cluster?.stats.increment(ClusterStat.rqRetry)
        cluster?.stats.increment(ClusterStat.rqRetryBackoffExponential)
        let delay = state.backoff(random: worker.random.next())
        backoffTimer = worker.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay) { [self] in
            self.backoffTimer = nil
            guard case .connecting = self.phase else { return }
            self.startAttempt()
        }
        return true
    }

    /// `per_try_timeout` runs from the end of the request (on this attempt) to the response head.
    func armPerTryTimer() {
        guard perTryTimer == nil, let timeout = retry?.policy.perTryTimeout ?? forward?.retryPolicy?.perTryTimeout else { return }
        let thisAttempt = attempt
        perTryTimer = worker.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [self] in
            guard thisAttempt == self.attempt, case .forwarding = self.phase, !self.responseStarted else { return }
            self.perTryTimer = nil
            self.cluster?.stats.increment(ClusterStat.rqPerTryTimeout)
            if let host = self.host {
                self.cluster?.recordOutcome(.noResponse, host: host, random: self.worker.random.next())
            }
            if self.retryIfAllowed(.perTryTimeout) { return }
            self.cluster?.stats.increment(ClusterStat.rqTimeout)
            self.fail(ProxyError(.upstreamTimeout), timedOut: true)
        }
    }
}

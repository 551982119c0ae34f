import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffRouting
import SkiffTelemetry
import SkiffUpstream

/// One downstream request and the upstream exchange that serves it (Envoy's router filter).
///
/// Routing picks a virtual host, a route and a cluster from the connection's snapshot, then a host
/// from the worker's cluster; request parts that arrive while the upstream connection is being
/// set up wait in a bounded buffer (reads stop when it is full). Once connected, parts stream
/// straight through in both directions, each side holding the other's reads when its write buffer
/// is full. Every failure becomes a `ProxyError` and a local reply in one place (`fail`).
///
/// With a retry policy (`RetryState` decides) the request is also kept in a replay buffer, up to
/// `retryBufferLimit`; a retriable response, reset, connect failure or per-try timeout before
/// the response reached the client abandons that attempt and, after the jittered back-off,
/// replays the request to a new host (avoiding earlier ones with `previous_hosts`). Past the
/// buffer limit the request is no longer retried (`retry_or_shadow_abandoned`).
final class RouterStream: UpstreamResponseHandler {
    enum Phase {
        /// Choosing a route / waiting for the upstream connection.
        case connecting
        /// Attached to an upstream connection.
        case forwarding(any UpstreamExchange)
        /// Finished (response ended, failed or reset); ignore everything.
        case done
    }

    unowned let connection: HTTPConnectionManagerHandler
    let request: HTTPRequestHead
    var phase: Phase = .connecting
    var pending = CircularBuffer<HTTPClientRequestPart>()
    var pendingBytes = 0
    var requestComplete = false
    var responseStarted = false
    var routeTimer: Scheduled<Void>?
    var route: Route?
    var virtualHost: VirtualHost?
    var forward: ForwardAction?
    var cluster: UpstreamCluster?
    var host: UpstreamHost?
    var upstreamStart: UInt64 = 0
    var upstreamActive = false
    /// Retries (nil: none possible for this request).
    var retry: RetryState?
    /// Every request part received so far, while a retry is still possible.
    var replay: [HTTPClientRequestPart] = []
    var replayBytes = 0
    /// 1-based upstream attempt number.
    var attempt = 0
    var previousHosts: [ObjectIdentifier] = []
    var perTryTimer: Scheduled<Void>?
    /// Circuit-breaker slots held: `max_requests` for the current attempt, `max_retries` while
    /// this stream is retrying (from scheduling, through back-off, to the end).
    var requestSlotHeld = false
    /// The fault filter's delay in progress, and the count it holds.
    var faultTimer: Scheduled<Void>?
    var activeFault: ActiveFaults?
    /// Headers the local rate limit adds to this request's response (`x-ratelimit-*`).
    var rateLimitHeaders = HeaderMutations()
    var retrySlotHeld = false
    var backoffTimer: Scheduled<Void>?
    /// The cluster may speak HTTP/2: the request is kept for replay (up to the retry buffer
    /// limit) so a stream the server refused can be sent again without a retry policy.
    var mayResend = false
    /// Sends after a refused stream so far (bounded: a server refusing everything is a failure).
    var resends = 0
    static let maxResends = 3
    /// Most request body kept for replay (Envoy's default per-request buffer limit, 1 MiB).
    static let retryBufferLimit = 1024 * 1024
    /// The route table this request was routed with (RDS may replace the worker's meanwhile).
    var table: RouteTable?
    /// `max_stream_duration` (or `grpc-timeout`) for the whole stream.
    var durationTimer: Scheduled<Void>?
    /// `per_try_idle_timeout`: when upstream bytes last moved on this attempt.
    var perTryIdleTimer: Scheduled<Void>?
    var lastUpstreamActivity: UInt64 = 0
    /// A gRPC request: local replies go out gRPC-shaped.
    let isGRPC: Bool
    /// The protocol an HTTP/1.1 request asks to switch to (`websocket`, ...), lowercased.
    let upgradeType: String?
    /// The access log record (nil when the connection manager has no `access_log`).
    var log: AccessLogRecord?
    var logStart: UInt64 = 0
    /// The trace span (nil when the connection manager does not trace).
    var span: ActiveSpan?
    /// `istio.stats` on an outbound listener: the destination workload, from the metadata its
    /// sidecar put on the response.
    var istioUpstreamPeer: IstioMetadata?

    init(connection: HTTPConnectionManagerHandler, request: HTTPRequestHead) {
        self.connection = connection
        self.request = request
        self.isGRPC = GRPCMessage.isGRPC(request.headers)
        self.upgradeType = connection.isHTTP2Stream ? nil : HTTPUpgrade.requestedType(request)
    }

    var worker: Worker { connection.worker }
    var config: HTTPConnectionManagerConfig { connection.config }

    // MARK: Routing

    func start() {
        let authority = request.headers.first(name: "host") ?? ""
        if let tracing = config.tracing { startTrace(tracing) }
        if connection.logsRequests || spanNeedsRecord { startLog(authority: authority) }
        let table = connection.currentRouteTable
        self.table = table
        let vhost = VirtualHostSelector.select(in: table, authority: authority)
        let matched = vhost.flatMap { RouteMatcher.firstMatch(in: $0, path: request.uri, headers: request.headers) }
        if let upgradeType, let matched, !upgradeAllowed(upgradeType, route: matched) {
            // As Envoy: refused before any filter runs, 403 with no body, and (the decoder having
            // stopped at the upgrade) the connection closes after it.
            connection.stats.increment(HTTPStat.rqWsOnNonWsRoute)
            phase = .done
            connection.sendLocalReply(LocalReply(status: 403, flag: .none, body: ""), version: request.version)
            return
        }
        // RBAC runs first, as Istio places it ahead of every other filter, whatever the route
        // then does (a direct response or no route at all included).
        if matched?.rbacDisabled != true, let rbac = matched?.rbac ?? config.rbac {
            self.route = matched
            self.virtualHost = vhost
            guard rbacAllows(rbac) else { return }
        }
        guard let vhost, let route = matched else {
            connection.stats.increment(HTTPStat.routerRqTotal)
            connection.stats.increment(HTTPStat.noRoute)
            fail(ProxyError(.noRoute))
            return
        }
        self.virtualHost = vhost
        self.route = route
        switch route.action {
        case .directResponse(let status, let body):
            connection.stats.increment(HTTPStat.routerRqTotal)
            connection.stats.increment(HTTPStat.rqDirectResponse)
            phase = .done
            connection.sendLocalReply(
                LocalReply(status: status, flag: .noRouteFound, body: body), version: request.version,
                mutations: responseMutations
            )
        case .forward(let action):
            forward = action
            armStreamTimers(action)
            let name = WeightedPicker.pick(action.target, random: worker.random.next())
            // The local rate limit runs before the fault filter whatever their order in
            // `http_filters` (Envoy follows the chain order; chains with both are rare).
            if let hcmLimit = config.localRateLimit, rateLimited(route.localRateLimit ?? hcmLimit, action: action) {
                return
            }
            if let hcmFault = config.fault, injectFault(route.fault ?? hcmFault, cluster: name, action: action) {
                return
            }
            proceed(to: name, action: action)
        }
    }

    /// Routing after the fault filter: the cluster, its retry state, the first attempt.
    func proceed(to name: String, action: ForwardAction) {
        // Envoy's router counts `rq_total` when the request reaches it: after the rate limit and
        // fault filters let it through, and for route misses and direct responses.
        connection.stats.increment(HTTPStat.routerRqTotal)
        guard let cluster = worker.clusters.cluster(named: name) else {
            connection.stats.increment(HTTPStat.noCluster)
            fail(ProxyError(.clusterNotFound(name)))
            return
        }
        self.cluster = cluster
        retry = RetryState(policy: action.retryPolicy, requestHeaders: request.headers)
        mayResend = cluster.config.upstreamProtocol != .http1
        startAttempt()
    }

    /// Picks a host (avoiding earlier attempts' hosts with `previous_hosts`) and asks its pool for
    /// a connection.
    func startAttempt() {
        guard let cluster else { return }
        guard cluster.resources.tryAcquire(.requests, limit: cluster.config.circuitBreakers.maxRequests) else {
            cluster.stats.increment(ClusterStat.rqPendingOverflow)
            fail(ProxyError(.overflow))
            return
        }
        requestSlotHeld = true
        attempt += 1
        var chosen = cluster.config.discovery == .originalDst
            ? cluster.pickHost(random: &worker.random, originalDestination: originalDestination(for: cluster))
            : cluster.pickHost(random: &worker.random)
        if let retry, retry.policy.avoidPreviousHosts, !previousHosts.isEmpty {
            var tries = 0
            while let candidate = chosen, previousHosts.contains(ObjectIdentifier(candidate)), tries < retry.policy.hostSelectionMaxAttempts {
                chosen = cluster.pickHost(random: &worker.random)
                tries += 1
            }
        }
        guard let host = chosen else {
            fail(ProxyError(.noHealthyUpstream))
            return
        }
        if upgradeType != nil, cluster.usesHTTP2(host, downstreamHTTP2: false) {
            // An HTTP/1.1 upgrade over HTTP/2 would be extended CONNECT, which Skiff does not do.
            fail(ProxyError(.upstreamProtocolError))
            return
        }
        self.host = host
        logAttempt(on: host)
        previousHosts.append(ObjectIdentifier(host))
        upstreamActive = true
        upstreamStart = ContinuousClockReading.now()
        host.requestStarted()
        cluster.stats.adjust(ClusterStat.rqActive, by: 1)
        let thisAttempt = attempt
        cluster.acquire(host, downstreamHTTP2: connection.isHTTP2Stream) { result in
            self.connected(result, attempt: thisAttempt)
        }
    }

    func connected(_ result: Result<any UpstreamExchange, ProxyError>, attempt: Int) {
        guard case .connecting = phase, attempt == self.attempt else {
            // The stream ended (or moved on) while connecting: give a fresh connection back unused.
            if case .success(let upstream) = result { upstream.abort() }
            return
        }
        switch result {
        case .failure(let error):
            if case .connectFailure(let reason) = error.kind, !reason.isEmpty {
                log?.upstreamTransportFailureReason = reason
            }
            if resendIfRefused(error) { return }
            // A connect failure or timeout counts against the host; a pool overflow does not.
            if let host, error.kind != .overflow {
                cluster?.recordOutcome(.noResponse, host: host, random: worker.random.next())
            }
            if case .connectFailure = error.kind, retryIfAllowed(.connectFailure) { return }
            if case .connectTimeout = error.kind, retryIfAllowed(.connectFailure) { return }
            fail(error)
        case .success(let upstream):
            guard let forward, let route else { return }
            // As Envoy: a request counts in `upstream_rq_total` once it has a connection.
            cluster?.stats.increment(ClusterStat.rqTotal)
            phase = .forwarding(upstream)
            upstream.begin(self)
            let mutations = [route.requestHeaders, virtualHost?.requestHeaders ?? .init(), (table?.requestHeaders ?? .init())]
            let path = PathRewriter.rewrite(path: request.uri, match: route.match, prefixRewrite: forward.prefixRewrite)
            var head = HeaderTransforms.upstreamRequestHead(
                request, path: path, action: forward, mutations: mutations,
                downstream: connection.downstreamInfo, requestID: span?.requestID, random: &worker.random
            )
            if upgradeType != nil {
                HTTPUpgrade.restoreHeaders(&head.headers, from: request.headers)
            }
            if span != nil { injectTrace(into: &head.headers) }
            if let reporter = config.istioStats { exchangeIstioMetadata(reporter, request: &head.headers) }
            logUpstreamRequest(head)
            upstream.write(.head(head), flush: false)
            if attempt == 1 {
                while let part = pending.popFirst() {
                    upstream.write(part, flush: false)
                }
            } else {
                for part in replay {
                    upstream.write(part, flush: false)
                }
            }
            pending.removeAll()
            pendingBytes = 0
            upstream.flush()
            armPerTryIdleTimer()
            connection.setHoldReads(!upstream.isWritable)
            if requestComplete {
                armPerTryTimer()
            }
        }
    }

    // MARK: Downstream events

    func downstreamBody(_ buffer: ByteBuffer) {
        touch()
        log?.bytesReceived += buffer.readableBytes
        keepForReplay(.body(.byteBuffer(buffer)), bytes: buffer.readableBytes)
        switch phase {
        case .connecting:
            pendingBytes += buffer.readableBytes
            if attempt <= 1 {
                pending.append(.body(.byteBuffer(buffer)))
            }
            if pendingBytes >= connection.config.maxRequestHeadersBytes + 64 * 1024 {
                connection.setHoldReads(true)
            }
        case .forwarding(let upstream):
            upstream.write(.body(.byteBuffer(buffer)), flush: false)
            if !upstream.isWritable {
                connection.setHoldReads(true)
            }
        case .done:
            break
        }
    }

    func downstreamEnd(_ trailers: HTTPHeaders?) {
        touch()
        requestComplete = true
        keepForReplay(.end(trailers), bytes: 0)
        switch phase {
        case .connecting:
            if attempt <= 1 {
                pending.append(.end(trailers))
            }
        case .forwarding(let upstream):
            upstream.write(.end(trailers), flush: true)
            armPerTryTimer()
        case .done:
            return
        }
        armRouteTimer()
    }

    func flushUpstream() {
        if case .forwarding(let upstream) = phase {
            upstream.flush()
        }
    }

    /// The downstream connection went away: abandon the upstream exchange.
    func downstreamReset() {
        endFault()
        releaseRetrySlot()
        cancelTimers()
        if case .forwarding(let upstream) = phase {
            upstream.abort()
        }
        phase = .done
        finishUpstream(success: false)
    }

    func downstreamWritabilityChanged(isWritable: Bool) {
        if case .forwarding(let upstream) = phase {
            upstream.setHoldReads(!isWritable)
        }
    }

    // MARK: Upstream events

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard case .forwarding(let upstream) = phase else { return }
        if head.status == .switchingProtocols {
            if upgradeType != nil {
                acceptUpgrade(head, upstream: upstream)
            } else {
                upstreamFailed(ProxyError(.upstreamProtocolError))  // A switch nobody asked for.
            }
            return
        }
        guard head.status.code >= 200 else {
            return  // 1xx informational responses are not forwarded (Envoy's default).
        }
        touch()
        upstreamTouched()
        if let host {
            cluster?.recordOutcome(.response(Int(head.status.code)), host: host, random: worker.random.next())
        }
        if retryIfAllowed(status: Int(head.status.code), headers: head.headers) {
            chargeUpstream(code: Int(head.status.code), final: false)
            return
        }
        perTryTimer?.cancel()
        perTryTimer = nil
        responseStarted = true
        let keepAlive = connection.responseStarting()
        chargeUpstream(code: Int(head.status.code))
        let serviceTime = Int64((ContinuousClockReading.now() - upstreamStart) / 1_000_000)
        var out = HeaderTransforms.downstreamResponseHead(
            head, requestVersion: request.version, serviceTimeMs: serviceTime, serverName: config.serverName,
            date: worker.date.current(), mutations: responseMutations, keepAlive: keepAlive
        )
        if let reporter = config.istioStats { exchangeIstioMetadata(reporter, response: &out.headers) }
        connection.writeResponseHead(out)
        upstreamSucceeded = head.status.code < 500
    }

    var upstreamSucceeded = true

    /// Envoy's `chargeUpstreamCode`: `upstream_rq_<code>` and its class for every response an
    /// attempt got (retried ones included) and every local failure reply; `upstream_rq_completed`
    /// once per request, for the final one (Envoy 1.40 counts a retried 503 and its successful
    /// retry as one completion, a connect failure's 503 as one too).
    func chargeUpstream(code: Int, final: Bool = true) {
        cluster?.stats.recordResponse(code: code)
        if final { cluster?.stats.increment(ClusterStat.rqCompleted) }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard case .forwarding(let upstream) = phase else { return }
        touch()
        upstreamTouched()
        connection.writeResponseBody(buffer)
        if !connection.isWritable {
            upstream.setHoldReads(true)
        }
    }

    func upstreamResponseEnd(_ trailers: HTTPHeaders?) {
        guard case .forwarding(let upstream) = phase else { return }
        cancelTimers()
        phase = .done
        cluster?.stats.record(ClusterStat.rqTime, nanoseconds: Int64(bitPattern: ContinuousClockReading.now() &- upstreamStart))
        if attempt > 1, upstreamSucceeded {
            cluster?.stats.increment(ClusterStat.rqRetrySuccess)
        }
        releaseRetrySlot()
        finishUpstream(success: upstreamSucceeded)
        upstream.finish()
        connection.setHoldReads(false)
        connection.writeResponseEnd(trailers)
    }

    func upstreamFailed(_ error: ProxyError) {
        guard case .forwarding = phase else { return }
        cluster?.stats.increment(ClusterStat.rqRxReset)
        if resendIfRefused(error) { return }
        if !responseStarted, let host {
            cluster?.recordOutcome(.noResponse, host: host, random: worker.random.next())
        }
        if retryIfAllowed(.reset(requestSent: true)) { return }
        fail(error)
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        connection.setHoldReads(!isWritable)
    }

    func upstreamReadComplete() {
        connection.flushResponse()
    }

    // MARK: Timeouts and failures

    /// The route timeout runs from the end of the downstream request to the end of the response.
    func armRouteTimer() {
        // During a fault delay the router has not started yet; the timer starts after it.
        guard routeTimer == nil, faultTimer == nil, let timeout = forward?.timeout else { return }
        if case .done = phase { return }
        routeTimer = worker.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [self] in
            self.cluster?.stats.increment(ClusterStat.rqTimeout)
            self.fail(ProxyError(.upstreamTimeout), timedOut: true)
        }
    }

    @inline(__always)
    func touch() {
        connection.streamActivity()
    }

    /// `stream_idle_timeout` expired (the connection manager keeps the timer): 408 `stream
    /// timeout` if no response started, else a reset.
    func streamIdleTimedOut() {
        if case .done = phase { return }
        connection.stats.increment(HTTPStat.rqIdleTimeout)
        fail(ProxyError(.streamIdleTimeout(requestComplete: requestComplete)))
    }

    /// Ends the stream with `error`: a local reply if no response started, else a reset.
    func releaseRetrySlot() {
        if retrySlotHeld {
            retrySlotHeld = false
            cluster?.resources.release(.retries)
        }
    }

    func fail(_ error: ProxyError, timedOut: Bool = false) {
        endFault()
        releaseRetrySlot()
        cancelTimers()
        if case .forwarding(let upstream) = phase {
            upstream.abort()
        }
        let wasDone: Bool
        if case .done = phase { wasDone = true } else { wasDone = false }
        phase = .done
        finishUpstream(success: false, timedOut: timedOut)
        if wasDone { return }
        connection.setHoldReads(false)
        if responseStarted {
            connection.resetConnection()
            return
        }
        let reply = error.localReply
        if cluster != nil {
            chargeUpstream(code: reply.status)
        }
        connection.sendLocalReply(reply, version: request.version, mutations: responseMutations, grpc: isGRPC)
    }

    /// Response header mutations, most specific first (route, virtual host, route configuration);
    /// none before a route matched. Envoy applies them to direct and error replies too.
    var responseMutations: [HeaderMutations] {
        guard let route else { return [] }
        return [route.responseHeaders, virtualHost?.responseHeaders ?? .init(), (table?.responseHeaders ?? .init()), rateLimitHeaders]
    }

    func finishUpstream(success: Bool, timedOut: Bool = false) {
        if requestSlotHeld {
            requestSlotHeld = false
            cluster?.resources.release(.requests)
        }
        guard upstreamActive else { return }
        upstreamActive = false
        host?.requestFinished(success: success, timedOut: timedOut)
        cluster?.stats.adjust(ClusterStat.rqActive, by: -1)
    }
}

// MARK: Upgrades

extension RouterStream {
    /// `upgrade_configs`: the route's entry for the type decides, else the connection manager's.
    func upgradeAllowed(_ type: String, route: Route) -> Bool {
        var overrides: [String: Bool]?
        if case .forward(let action) = route.action { overrides = action.upgradeOverrides }
        return HTTPUpgrade.isAllowed(type, connectionManager: config.upgradeTypes, route: overrides)
    }

    /// The upstream answered the upgrade with 101: the request is complete as far as the router,
    /// the cluster and the circuit breakers are concerned, and both connections become one
    /// tunnel of raw bytes (the upstream one never returns to its pool). Route and per-try
    /// timeouts end here; `stream_idle_timeout` keeps watching the tunnel.
    func acceptUpgrade(_ head: HTTPResponseHead, upstream: any UpstreamExchange) {
        touch()
        if let host {
            cluster?.recordOutcome(.response(101), host: host, random: worker.random.next())
        }
        cancelTimers()
        releaseRetrySlot()
        phase = .done
        responseStarted = true
        chargeUpstream(code: 101)
        finishUpstream(success: true)
        var out = HeaderTransforms.downstreamResponseHead(
            head, requestVersion: request.version, serviceTimeMs: nil, serverName: config.serverName,
            date: worker.date.current(), mutations: responseMutations, keepAlive: true
        )
        HTTPUpgrade.restoreHeaders(&out.headers, from: head.headers)
        let (downstreamEnd, upstreamEnd) = ByteRelayEnd.pair { [weak connection] in
            connection?.tunnelActivity()
        }
        guard connection.switchToTunnel(out, tunnel: downstreamEnd) else {
            upstream.abort()
            return
        }
        if !upstream.upgrade(to: upstreamEnd) {
            connection.resetConnection()
        }
    }
}

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
final class RouterStream: UpstreamResponseHandler {
    enum Phase {
        /// Choosing a route / waiting for the upstream connection.
        case connecting
        /// Attached to an upstream connection.
        case forwarding(UpstreamHTTP1Connection)
        /// Finished (response ended, failed or reset); ignore everything.
        case done
    }

    private unowned let connection: HTTPConnectionManagerHandler
    private let request: HTTPRequestHead
    private var phase: Phase = .connecting
    private var pending = CircularBuffer<HTTPClientRequestPart>()
    private var pendingBytes = 0
    private var requestComplete = false
    private var responseStarted = false
    private var routeTimer: Scheduled<Void>?
    private var route: Route?
    private var virtualHost: VirtualHost?
    private var forward: ForwardAction?
    private var cluster: UpstreamCluster?
    private var host: UpstreamHost?
    private var upstreamStart: UInt64 = 0
    private var upstreamActive = false
    /// The route table this request was routed with (RDS may replace the worker's meanwhile).
    private var table: RouteTable?

    init(connection: HTTPConnectionManagerHandler, request: HTTPRequestHead) {
        self.connection = connection
        self.request = request
    }

    private var worker: Worker { connection.worker }
    private var config: HTTPConnectionManagerConfig { connection.config }

    // MARK: Routing

    func start() {
        let table = connection.currentRouteTable
        self.table = table
        let authority = request.headers.first(name: "host") ?? ""
        guard let vhost = VirtualHostSelector.select(in: table, authority: authority),
              let route = RouteMatcher.firstMatch(in: vhost, path: request.uri, headers: request.headers)
        else {
            connection.stats.increment(HTTPStat.noRoute)
            fail(ProxyError(.noRoute))
            return
        }
        self.virtualHost = vhost
        self.route = route
        connection.stats.increment(HTTPStat.routerRqTotal)
        switch route.action {
        case .directResponse(let status, let body):
            connection.stats.increment(HTTPStat.rqDirectResponse)
            phase = .done
            connection.sendLocalReply(
                LocalReply(status: status, flag: .noRouteFound, body: body), version: request.version,
                mutations: responseMutations
            )
        case .forward(let action):
            forward = action
            let name = WeightedPicker.pick(action.target, random: worker.random.next())
            guard let cluster = worker.clusters.cluster(named: name) else {
                connection.stats.increment(HTTPStat.noCluster)
                fail(ProxyError(.clusterNotFound(name)))
                return
            }
            self.cluster = cluster
            guard let host = cluster.pickHost(random: &worker.random) else {
                fail(ProxyError(.noHealthyUpstream))
                return
            }
            self.host = host
            upstreamActive = true
            upstreamStart = ContinuousClockReading.now()
            host.requestStarted()
            cluster.stats.increment(ClusterStat.rqTotal)
            cluster.stats.adjust(ClusterStat.rqActive, by: 1)
            cluster.http1Pool(for: host).acquire { result in
                self.connected(result)
            }
        }
    }

    private func connected(_ result: Result<UpstreamHTTP1Connection, ProxyError>) {
        guard case .connecting = phase else {
            // The stream ended while connecting: give a fresh connection back unused.
            if case .success(let upstream) = result { upstream.abort() }
            return
        }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let upstream):
            guard let forward, let route else { return }
            phase = .forwarding(upstream)
            upstream.begin(self)
            let mutations = [route.requestHeaders, virtualHost?.requestHeaders ?? .init(), (table?.requestHeaders ?? .init())]
            let path = PathRewriter.rewrite(path: request.uri, match: route.match, prefixRewrite: forward.prefixRewrite)
            let head = HeaderTransforms.upstreamRequestHead(
                request, path: path, action: forward, mutations: mutations,
                downstream: connection.downstreamInfo, random: &worker.random
            )
            upstream.write(.head(head), flush: false)
            while let part = pending.popFirst() {
                upstream.write(part, flush: false)
            }
            pendingBytes = 0
            upstream.flush()
            connection.setHoldReads(!upstream.isWritable)
        }
    }

    // MARK: Downstream events

    func downstreamBody(_ buffer: ByteBuffer) {
        touch()
        switch phase {
        case .connecting:
            pendingBytes += buffer.readableBytes
            pending.append(.body(.byteBuffer(buffer)))
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
        switch phase {
        case .connecting:
            pending.append(.end(trailers))
        case .forwarding(let upstream):
            upstream.write(.end(trailers), flush: true)
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
        routeTimer?.cancel()
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
        guard case .forwarding = phase, head.status.code >= 200 || head.status == .switchingProtocols else {
            return  // 1xx informational responses are not forwarded (Envoy's default).
        }
        touch()
        responseStarted = true
        let keepAlive = connection.responseStarting()
        cluster?.stats.recordResponse(code: Int(head.status.code))
        let serviceTime = Int64((ContinuousClockReading.now() - upstreamStart) / 1_000_000)
        let out = HeaderTransforms.downstreamResponseHead(
            head, requestVersion: request.version, serviceTimeMs: serviceTime, serverName: config.serverName,
            date: worker.date.current(), mutations: responseMutations, keepAlive: keepAlive
        )
        connection.writeResponseHead(out)
        upstreamSucceeded = head.status.code < 500
    }

    private var upstreamSucceeded = true

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard case .forwarding(let upstream) = phase else { return }
        touch()
        connection.writeResponseBody(buffer)
        if !connection.isWritable {
            upstream.setHoldReads(true)
        }
    }

    func upstreamResponseEnd(_ trailers: HTTPHeaders?) {
        guard case .forwarding(let upstream) = phase else { return }
        routeTimer?.cancel()
        phase = .done
        cluster?.stats.increment(ClusterStat.rqCompleted)
        finishUpstream(success: upstreamSucceeded)
        upstream.finish()
        connection.setHoldReads(false)
        connection.writeResponseEnd(trailers)
    }

    func upstreamFailed(_ error: ProxyError) {
        guard case .forwarding = phase else { return }
        cluster?.stats.increment(ClusterStat.rqRxReset)
        fail(error)
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        connection.setHoldReads(!isWritable)
    }

    // MARK: Timeouts and failures

    /// The route timeout runs from the end of the downstream request to the end of the response.
    private func armRouteTimer() {
        guard routeTimer == nil, let timeout = forward?.timeout else { return }
        if case .done = phase { return }
        routeTimer = worker.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [self] in
            self.cluster?.stats.increment(ClusterStat.rqTimeout)
            self.fail(ProxyError(.upstreamTimeout), timedOut: true)
        }
    }

    @inline(__always)
    private func touch() {
        connection.streamActivity()
    }

    /// `stream_idle_timeout` expired (the connection manager keeps the timer): 408 `stream
    /// timeout` if no response started, else a reset.
    func streamIdleTimedOut() {
        if case .done = phase { return }
        connection.stats.increment(HTTPStat.rqIdleTimeout)
        fail(ProxyError(.streamIdleTimeout))
    }

    /// Ends the stream with `error`: a local reply if no response started, else a reset.
    private func fail(_ error: ProxyError, timedOut: Bool = false) {
        routeTimer?.cancel()
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
            cluster?.stats.recordResponse(code: reply.status)
        }
        connection.sendLocalReply(reply, version: request.version, mutations: responseMutations)
    }

    /// Response header mutations, most specific first (route, virtual host, route configuration);
    /// none before a route matched. Envoy applies them to direct and error replies too.
    private var responseMutations: [HeaderMutations] {
        guard let route else { return [] }
        return [route.responseHeaders, virtualHost?.responseHeaders ?? .init(), (table?.responseHeaders ?? .init())]
    }

    private func finishUpstream(success: Bool, timedOut: Bool = false) {
        guard upstreamActive else { return }
        upstreamActive = false
        host?.requestFinished(success: success, timedOut: timedOut)
        cluster?.stats.adjust(ClusterStat.rqActive, by: -1)
    }
}

import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffRouting
import SkiffTelemetry
import SkiffUpstream

/// The HTTP filters that run before the router on the same stream: the local rate limit and
/// fault injection (their decisions are pure, in `LocalRateLimiter` and `FaultInjector`).
extension RouterStream {
    // MARK: RBAC

    /// Runs the HTTP RBAC filter (the route's `RBACPerRoute` or the connection manager's):
    /// false when the request was denied and answered 403 `RBAC: access denied`.
    func rbacAllows(_ rbac: RBACFilterConfig) -> Bool {
        let path = String(RouteMatcher.pathWithoutQuery(request.uri))
        let session = connection.tlsSession
        let subject = RBACEngine.Subject(
            headers: PseudoHeaderView(request: request, isTLS: session != nil), path: path, remoteIP: connection.remoteIP,
            localIP: connection.localIP, localPort: connection.localPort, serverName: session?.serverName,
            peerURIs: session?.peer?.uris ?? [], peerDNSNames: session?.peer?.dnsNames ?? [], peerSubject: session?.peer?.subject,
            authenticated: session?.peer != nil
        )
        if let shadow = rbac.shadowRules {
            let decision = RBACEngine.evaluate(shadow, subject)
            connection.stats.increment(decision.allowed ? HTTPStat.rbacShadowAllowed : HTTPStat.rbacShadowDenied)
        }
        guard let rules = rbac.rules else { return true }
        let decision = RBACEngine.evaluate(rules, subject)
        connection.stats.increment(decision.allowed ? HTTPStat.rbacAllowed : HTTPStat.rbacDenied)
        guard !decision.allowed else { return true }
        let peer = session?.peer?.principal ?? "(no client certificate)"
        worker.logEvent(
            "rbac: denied \(request.method) \(path) from \(connection.remoteIP ?? "?") as \(peer): "
                + (decision.policy.map { "matched policy \($0) (\(rules.action))" } ?? "no policy matched (\(rules.action))")
        )
        phase = .done
        connection.sendLocalReply(
            LocalReply(status: 403, flag: .none, body: "RBAC: access denied"), version: request.version,
            mutations: responseMutations, grpc: isGRPC
        )
        return false
    }

    // MARK: Local rate limit

    /// Runs the local rate limit: true when it answered the request (429 or its `status`).
    func rateLimited(_ limit: LocalRateLimitConfig, action: ForwardAction) -> Bool {
        let stats = worker.stats.scope(.localRateLimit, limit.statPrefix)
        let rules = LocalRateLimiter.rules(limit, route: action.rateLimits, virtualHost: virtualHost?.rateLimits ?? [])
        switch LocalRateLimiter.check(limit, rules: rules, headers: request.headers, random: &worker.random, now: ContinuousClockReading.now()) {
        case .disabled:
            return false
        case .allowed(let headers):
            stats.increment(LocalRateLimitStat.enabled)
            stats.increment(LocalRateLimitStat.ok)
            rateLimitHeaders = headers
            return false
        case .limited(let enforced, let headers):
            stats.increment(LocalRateLimitStat.enabled)
            stats.increment(LocalRateLimitStat.rateLimited)
            guard enforced else { return false }
            stats.increment(LocalRateLimitStat.enforced)
            phase = .done
            connection.sendLocalReply(
                LocalReply(status: limit.status, flag: .rateLimited, body: "local_rate_limited"), version: request.version,
                mutations: [headers] + responseMutations, grpc: isGRPC
            )
            return true
        }
    }

    // MARK: Fault injection

    /// Runs the fault filter's decision: true when it took over the request (a delay now, or an
    /// abort), false to route on at once.
    func injectFault(_ fault: FaultConfig, cluster name: String, action: ForwardAction) -> Bool {
        guard let decision = FaultInjector.decide(fault, headers: request.headers, cluster: name, random: &worker.random) else {
            return false
        }
        guard fault.active.tryBegin(limit: fault.maxActiveFaults) else {
            connection.stats.increment(HTTPStat.faultsOverflow)
            return false
        }
        activeFault = fault.active
        connection.stats.adjust(HTTPStat.faultActive, by: 1)
        if let delay = decision.delay {
            connection.stats.increment(HTTPStat.faultDelaysInjected)
            faultTimer = worker.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay) { [self] in
                self.faultTimer = nil
                guard case .connecting = self.phase else { return }
                if let abort = decision.abort {
                    self.injectAbort(abort)
                } else {
                    self.endFault()
                    self.proceed(to: name, action: action)
                    if self.requestComplete { self.armRouteTimer() }
                }
            }
            return true
        }
        if let abort = decision.abort {
            injectAbort(abort)
            return true
        }
        endFault()
        return false
    }

    func injectAbort(_ abort: FaultInjector.Abort) {
        connection.stats.increment(HTTPStat.faultAbortsInjected)
        endFault()
        phase = .done
        connection.sendLocalReply(
            LocalReply(status: abort.httpStatus, flag: .faultInjected, body: "fault filter abort", grpcStatus: abort.grpcStatus),
            version: request.version, mutations: responseMutations, grpc: isGRPC
        )
    }

    func endFault() {
        faultTimer?.cancel()
        faultTimer = nil
        if let activeFault {
            activeFault.end()
            connection.stats.adjust(HTTPStat.faultActive, by: -1)
            self.activeFault = nil
        }
    }
}

/// Request headers as HTTP/2 names them, for RBAC header rules: Istio writes method and host
/// rules on `:method` and `:authority`, which an HTTP/1.1 header block does not carry.
struct PseudoHeaderView: RequestHeaderView {
    let request: HTTPRequestHead
    let isTLS: Bool

    func values(forHeader name: String) -> [String] {
        switch name {
        case ":method": return [request.method.rawValue]
        case ":authority": return request.headers["host"]
        case ":path": return [request.uri]
        case ":scheme": return [isTLS ? "https" : "http"]
        default: return request.headers.values(forHeader: name)
        }
    }
}

import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffRouting
import Testing
@testable import SkiffHTTP

/// Which stream duration applies, as Envoy's connection manager chooses it once a route matched.
struct RouterStreamTimeoutsTests {
    static func action(max: TimeAmount? = nil, grpcMax: TimeAmount? = nil, offset: TimeAmount? = nil) -> ForwardAction {
        var action = ForwardAction(target: .single("c"))
        action.maxStreamDuration = max
        action.grpcTimeoutHeaderMax = grpcMax
        action.grpcTimeoutHeaderOffset = offset
        return action
    }

    @Test func grpcTimeoutWinsOnlyUnderGrpcTimeoutHeaderMax() {
        let duration = RouterStream.streamDuration
        // No route setting: the connection manager's.
        #expect(duration(Self.action(), .seconds(1), .seconds(9)) == .seconds(9))
        // The route's replaces it; zero disables.
        #expect(duration(Self.action(max: .seconds(2)), .seconds(1), .seconds(9)) == .seconds(2))
        #expect(duration(Self.action(max: .zero), nil, .seconds(9)) == nil)
        // grpc_timeout_header_max: the header, capped (zero: no cap), less the offset.
        #expect(duration(Self.action(max: .seconds(2), grpcMax: .zero), .seconds(5), nil) == .seconds(5))
        #expect(duration(Self.action(grpcMax: .seconds(3)), .seconds(5), nil) == .seconds(3))
        #expect(duration(Self.action(grpcMax: .zero, offset: .milliseconds(100)), .seconds(1), nil) == .milliseconds(900))
        // Without the header the route's max_stream_duration applies.
        #expect(duration(Self.action(max: .seconds(2), grpcMax: .zero), nil, nil) == .seconds(2))
    }

    @Test func aRetryBudgetScalesWithLoadAndHasAFloor() {
        var limits = CircuitBreakerThresholds()
        limits.maxRetries = 3
        #expect(limits.retryLimit(activeRequests: 1_000, pendingRequests: 0) == 3)
        limits.retryBudget = RetryBudget(budgetPercent: 20, minRetryConcurrency: 3)
        #expect(limits.retryLimit(activeRequests: 1_000, pendingRequests: 100) == 220)
        #expect(limits.retryLimit(activeRequests: 5, pendingRequests: 0) == 3)
    }

    /// Istio writes method and host rules on `:method` and `:authority`.
    @Test func rbacHeaderRulesSeePseudoHeaders() {
        let rules = RBACRules(action: .deny, policies: [
            RBACPolicy(name: "no-delete", permissions: [.header(HeaderMatcher(name: ":method", rule: .exact("DELETE", ignoreCase: false)))],
                       principals: [.any]),
            RBACPolicy(name: "no-admin-host", permissions: [.header(HeaderMatcher(name: ":authority", rule: .prefix("admin.", ignoreCase: false)))],
                       principals: [.any]),
        ])
        func decide(_ method: HTTPMethod, host: String) -> Bool {
            let head = HTTPRequestHead(version: .http1_1, method: method, uri: "/x", headers: ["host": host])
            return RBACEngine.evaluate(rules, RBACEngine.Subject(headers: PseudoHeaderView(request: head, isTLS: true), path: "/x")).allowed
        }
        #expect(decide(.GET, host: "api.mesh"))
        #expect(!decide(.DELETE, host: "api.mesh"))
        #expect(!decide(.GET, host: "admin.mesh"))
    }
}

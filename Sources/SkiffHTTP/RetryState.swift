import NIOCore
import NIOHTTP1
import SkiffCore

/// Whether a failed upstream attempt is retried, attempt by attempt (Envoy's retry state).
///
/// Pure: the router stream reports each outcome and asks; timers and I/O stay in the stream.
/// Conditions come from the route's `retry_policy` plus the request's `x-envoy-retry-on`;
/// `x-envoy-max-retries` overrides `num_retries`. Back-off is Envoy's fully jittered exponential:
/// a uniform draw from [0, min(base × 2^n, max)).
struct RetryState {
    enum Failure {
        /// The connection to the host could not be made (UF).
        case connectFailure
        /// The upstream reset or closed before the response head; `requestSent` tells
        /// `reset-before-request` apart.
        case reset(requestSent: Bool)
        /// `per_try_timeout` expired (UT for this attempt).
        case perTryTimeout
    }

    let policy: RetryPolicy
    private(set) var conditions: RetryPolicy.Conditions
    private(set) var remaining: Int
    /// Retries started so far.
    private(set) var retries = 0

    /// Nil when neither the route nor the request asks for retries.
    init?(policy: RetryPolicy?, requestHeaders headers: HTTPHeaders) {
        let headerConditions = headers.first(name: "x-envoy-retry-on").map { RetryPolicy.Conditions(parsing: $0) }
        guard policy != nil || headerConditions != nil else { return nil }
        var base = policy ?? RetryPolicy(retryOn: [])
        if let headerConditions {
            base.retryOn.formUnion(headerConditions)
        }
        self.policy = base
        self.conditions = base.retryOn
        self.remaining = base.numRetries
        if let text = headers.first(name: "x-envoy-max-retries"), let value = Int(text.trimmingSpaces()), value >= 0 {
            self.remaining = value
        }
        if conditions.isEmpty { return nil }
    }

    /// Whether a response with `status` (and these headers) is one the policy retries.
    func wouldRetry(status: Int, headers: HTTPHeaders) -> Bool {
        if conditions.contains(.fiveXX), status >= 500 { return true }
        if conditions.contains(.gatewayError), status == 502 || status == 503 || status == 504 { return true }
        if conditions.contains(.retriable4xx), status == 409 { return true }
        if conditions.contains(.retriableStatusCodes), policy.retriableStatusCodes.contains(status) { return true }
        if conditions.contains(.retriableHeaders), policy.retriableHeaders.contains(where: { headers.contains(name: $0) }) {
            return true
        }
        if let grpc = headers.first(name: "grpc-status").flatMap({ Int($0) }) {
            switch grpc {
            case 1: return conditions.contains(.grpcCancelled)
            case 4: return conditions.contains(.grpcDeadlineExceeded)
            case 8: return conditions.contains(.grpcResourceExhausted)
            case 13: return conditions.contains(.grpcInternal)
            case 14: return conditions.contains(.grpcUnavailable)
            default: break
            }
        }
        return false
    }

    /// Whether a failure without a response is one the policy retries.
    func wouldRetry(_ failure: Failure) -> Bool {
        let anyReset: RetryPolicy.Conditions = [.fiveXX, .gatewayError, .reset]
        switch failure {
        case .connectFailure:
            return !conditions.isDisjoint(with: anyReset.union([.connectFailure, .resetBeforeRequest]))
        case .reset(let requestSent):
            return !conditions.isDisjoint(with: anyReset) || (!requestSent && conditions.contains(.resetBeforeRequest))
        case .perTryTimeout:
            return !conditions.isDisjoint(with: anyReset)
        }
    }

    /// Takes one retry if any is left.
    mutating func consume() -> Bool {
        guard remaining > 0 else { return false }
        remaining -= 1
        retries += 1
        return true
    }

    /// The wait before retry number `retries` (call after `consume`).
    func backoff(random: UInt64) -> TimeAmount {
        let shift = min(max(retries - 1, 0), 30)
        let ceiling = min(policy.backoffBase.nanoseconds << Int64(shift), policy.backoffMax.nanoseconds)
        guard ceiling > 0 else { return .zero }
        return .nanoseconds(Int64(random % UInt64(ceiling)))
    }
}

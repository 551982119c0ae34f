import NIOHTTP1
import SkiffCore
import Testing
@testable import SkiffHTTP

struct RetryStateTests {
    static func state(_ retryOn: String, retries: Int = 1, headers: [(String, String)] = []) -> RetryState? {
        var policy = RetryPolicy(retryOn: RetryPolicy.Conditions(parsing: retryOn), numRetries: retries)
        policy.retriableStatusCodes = [418]
        return RetryState(policy: policy, requestHeaders: HTTPHeaders(headers))
    }

    @Test func tokensChooseWhichResponsesAreRetried() throws {
        let gateway = try #require(Self.state("gateway-error, connect-failure,refused-stream"))
        #expect(gateway.wouldRetry(status: 503, headers: [:]))
        #expect(gateway.wouldRetry(status: 502, headers: [:]))
        #expect(!gateway.wouldRetry(status: 500, headers: [:]))
        let fiveXX = try #require(Self.state("5xx"))
        #expect(fiveXX.wouldRetry(status: 500, headers: [:]))
        #expect(!fiveXX.wouldRetry(status: 409, headers: [:]))
        #expect(try #require(Self.state("retriable-4xx")).wouldRetry(status: 409, headers: [:]))
        #expect(try #require(Self.state("retriable-status-codes")).wouldRetry(status: 418, headers: [:]))
        let grpc = try #require(Self.state("unavailable"))
        #expect(grpc.wouldRetry(status: 200, headers: ["grpc-status": "14"]))
        #expect(!grpc.wouldRetry(status: 200, headers: ["grpc-status": "13"]))
    }

    @Test func failuresWithoutAResponse() throws {
        let connect = try #require(Self.state("connect-failure"))
        #expect(connect.wouldRetry(.connectFailure))
        #expect(!connect.wouldRetry(.reset(requestSent: true)))
        #expect(!connect.wouldRetry(.perTryTimeout))
        let gateway = try #require(Self.state("gateway-error"))
        #expect(gateway.wouldRetry(.reset(requestSent: true)))
        #expect(gateway.wouldRetry(.perTryTimeout))
        let beforeRequest = try #require(Self.state("reset-before-request"))
        #expect(beforeRequest.wouldRetry(.reset(requestSent: false)))
        #expect(!beforeRequest.wouldRetry(.reset(requestSent: true)))
    }

    @Test func headersAddConditionsAndOverrideTheCount() throws {
        #expect(Self.state("") == nil)
        #expect(RetryState(policy: nil, requestHeaders: [:]) == nil)
        var fromHeaders = try #require(RetryState(policy: nil, requestHeaders: ["x-envoy-retry-on": "5xx", "x-envoy-max-retries": "2"]))
        #expect(fromHeaders.wouldRetry(status: 500, headers: [:]))
        let taken = [fromHeaders.consume(), fromHeaders.consume(), fromHeaders.consume()]
        #expect(taken == [true, true, false])
        var defaultCount = try #require(Self.state("5xx"))
        let defaults = [defaultCount.consume(), defaultCount.consume()]
        #expect(defaults == [true, false], "num_retries defaults to 1")
    }

    @Test func backoffIsFullyJitteredAndCapped() throws {
        var state = try #require(Self.state("5xx", retries: 10))
        var random = FastRandom(seed: 7)
        for n in 1...8 {
            let took = state.consume()
            #expect(took)
            let ceiling = min(25_000_000 << Int64(n - 1), 250_000_000)
            for _ in 0..<50 {
                let wait = state.backoff(random: random.next()).nanoseconds
                #expect(wait >= 0 && wait < ceiling, "retry \(n): \(wait) ≥ \(ceiling)")
            }
        }
    }
}

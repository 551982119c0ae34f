import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffRouting

/// What the fault filter does to one request (Envoy's `envoy.filters.http.fault`), decided
/// before routing to the upstream. Pure: the router stream runs the delay and the abort.
enum FaultInjector {
    struct Abort: Equatable {
        /// The HTTP status (200 for a gRPC-only abort, as Envoy sends to non-gRPC callers).
        var httpStatus: Int
        /// The gRPC status gRPC callers see; nil maps it from `httpStatus`.
        var grpcStatus: Int?
    }

    struct Decision: Equatable {
        var delay: TimeAmount?
        var abort: Abort?
    }

    /// Header overrides, as in Envoy (honoured only where the config asks for header control,
    /// percentages always capped by the configured ones' denominators).
    static let abortHeader = "x-envoy-fault-abort-request"
    static let grpcAbortHeader = "x-envoy-fault-abort-grpc-request"
    static let abortPercentageHeader = "x-envoy-fault-abort-request-percentage"
    static let delayHeader = "x-envoy-fault-delay-request"
    static let delayPercentageHeader = "x-envoy-fault-delay-request-percentage"

    /// Nil when the request is not in scope or no fault fires.
    static func decide(
        _ fault: FaultConfig, headers: HTTPHeaders, cluster: String, random: inout FastRandom
    ) -> Decision? {
        if let upstream = fault.upstreamCluster, upstream != cluster { return nil }
        if !fault.downstreamNodes.isEmpty {
            guard let node = headers.first(name: "x-envoy-downstream-service-node"), fault.downstreamNodes.contains(node) else {
                return nil
            }
        }
        if !fault.headers.isEmpty {
            guard fault.headers.allSatisfy({ HeaderMatching.matches($0, headers: headers) }) else { return nil }
        }
        var decision = Decision()
        if let delay = fault.delay {
            var percentage = delay.percentage
            var duration = delay.fixed
            if delay.fixed == nil {
                duration = headers.first(name: delayHeader).flatMap { Int64($0.trimmingSpaces()) }.map { .milliseconds($0) }
                if let text = headers.first(name: delayPercentageHeader), let value = UInt64(text.trimmingSpaces()) {
                    percentage.numerator = min(value, percentage.numerator)
                }
            }
            if let duration, duration.nanoseconds > 0, percentage.hit(random.next()) {
                decision.delay = duration
            }
        }
        if let abort = fault.abort {
            var percentage = abort.percentage
            var status = abort.httpStatus
            var grpcStatus = abort.grpcStatus
            if abort.httpStatus == nil, abort.grpcStatus == nil {
                status = headers.first(name: abortHeader).flatMap { Int($0.trimmingSpaces()) }.flatMap { (200...599).contains($0) ? $0 : nil }
                grpcStatus = headers.first(name: grpcAbortHeader).flatMap { Int($0.trimmingSpaces()) }.flatMap { $0 >= 0 ? $0 : nil }
                if let text = headers.first(name: abortPercentageHeader), let value = UInt64(text.trimmingSpaces()) {
                    percentage.numerator = min(value, percentage.numerator)
                }
            }
            if status != nil || grpcStatus != nil, percentage.hit(random.next()) {
                decision.abort = Abort(httpStatus: status ?? 200, grpcStatus: grpcStatus)
            }
        }
        return decision.delay == nil && decision.abort == nil ? nil : decision
    }
}

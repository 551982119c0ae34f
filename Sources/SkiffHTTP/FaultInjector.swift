import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffRouting

/// What the fault filter does to one request (Envoy's `envoy.filters.http.fault`), decided
/// before routing to the upstream. Pure: the router stream runs the delay and the abort.
enum FaultInjector {
    struct Decision: Equatable {
        var delay: TimeAmount?
        var abortStatus: Int?
    }

    /// Header overrides, as in Envoy (honoured only where the config asks for header control,
    /// percentages always capped by the configured ones' denominators).
    static let abortHeader = "x-envoy-fault-abort-request"
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
            if abort.httpStatus == nil {
                status = headers.first(name: abortHeader).flatMap { Int($0.trimmingSpaces()) }.flatMap { (200...599).contains($0) ? $0 : nil }
                if let text = headers.first(name: abortPercentageHeader), let value = UInt64(text.trimmingSpaces()) {
                    percentage.numerator = min(value, percentage.numerator)
                }
            }
            if let status, percentage.hit(random.next()) {
                decision.abortStatus = status
            }
        }
        return decision.delay == nil && decision.abortStatus == nil ? nil : decision
    }
}

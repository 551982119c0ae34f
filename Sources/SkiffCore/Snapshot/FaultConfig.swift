import NIOCore
import Synchronization

/// `envoy.type.v3.FractionalPercent`: `numerator` out of 100, 10,000 or 1,000,000.
public struct FractionalPercent: Sendable, Equatable {
    public var numerator: UInt64
    public var denominator: UInt64

    public init(numerator: UInt64, denominator: UInt64) {
        self.numerator = numerator
        self.denominator = max(denominator, 1)
    }

    public static let zero = FractionalPercent(numerator: 0, denominator: 100)

    /// Whether a uniform random draw falls inside the percentage.
    public func hit(_ random: UInt64) -> Bool {
        numerator >= denominator || random % denominator < numerator
    }
}

/// `envoy.extensions.filters.http.fault.v3.HTTPFault` after translation (the connection
/// manager's, or a route's `typed_per_filter_config` override).
public struct FaultConfig: Sendable {
    public struct Delay: Sendable {
        /// `fixed_delay`; nil with `header_delay` (the request's `x-envoy-fault-delay-request`).
        public var fixed: TimeAmount?
        public var percentage: FractionalPercent

        public init(fixed: TimeAmount?, percentage: FractionalPercent) {
            self.fixed = fixed
            self.percentage = percentage
        }
    }

    public struct Abort: Sendable {
        /// `http_status`; nil with `grpc_status` or `header_abort` (the request's
        /// `x-envoy-fault-abort-request` / `x-envoy-fault-abort-grpc-request`).
        public var httpStatus: Int?
        /// `grpc_status`: gRPC callers get it; others get HTTP 200, as from Envoy.
        public var grpcStatus: Int?
        public var percentage: FractionalPercent

        public init(httpStatus: Int?, grpcStatus: Int? = nil, percentage: FractionalPercent) {
            self.httpStatus = httpStatus
            self.grpcStatus = grpcStatus
            self.percentage = percentage
        }
    }

    public var delay: Delay?
    public var abort: Abort?
    /// `upstream_cluster`: only requests routed to this cluster.
    public var upstreamCluster: String?
    /// `headers`: only requests matching all of them.
    public var headers: [HeaderMatcher]
    /// `downstream_nodes`: only requests whose `x-envoy-downstream-service-node` is listed.
    public var downstreamNodes: [String]
    /// `max_active_faults`: faults in progress at once, across workers.
    public var maxActiveFaults: Int?
    /// Faults in progress for this filter configuration (shared by every worker).
    public let active: ActiveFaults

    public init(delay: Delay?, abort: Abort?) {
        self.delay = delay
        self.abort = abort
        self.upstreamCluster = nil
        self.headers = []
        self.downstreamNodes = []
        self.maxActiveFaults = nil
        self.active = ActiveFaults()
    }
}

/// The count behind `max_active_faults` and the `fault.active_faults` gauge.
public final class ActiveFaults: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    public func tryBegin(limit: Int?) -> Bool {
        guard let limit else {
            count.add(1, ordering: .relaxed)
            return true
        }
        return count.incrementIfBelow(limit)
    }

    public func end() {
        count.subtract(1, ordering: .relaxed)
    }

    public var current: Int { count.load(ordering: .relaxed) }
}

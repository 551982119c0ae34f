import EnvoyAPI
import NIOCore
import SkiffCore

/// `envoy.extensions.filters.http.fault.v3.HTTPFault` → `FaultConfig`.
enum FaultTranslator {
    static let typeName = "envoy.extensions.filters.http.fault.v3.HTTPFault"
    static let filterName = "envoy.filters.http.fault"

    static func translate(_ fault: Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault, at path: FieldPath) throws -> FaultConfig {
        try SupportedFields.check(
            fault, allowed: ["delay", "abort", "upstream_cluster", "headers", "downstream_nodes", "max_active_faults"], at: path,
            hint: "response_rate_limit and runtime keys arrive later"
        )
        var delay: FaultConfig.Delay?
        if fault.hasDelay {
            let delayPath = path / "delay"
            try SupportedFields.check(fault.delay, allowed: ["fixed_delay", "header_delay", "percentage"], at: delayPath)
            let percentage = try self.percentage(fault.delay.percentage, isSet: fault.delay.hasPercentage, at: delayPath / "percentage")
            switch fault.delay.faultDelaySecifier {
            case .fixedDelay(let duration):
                delay = FaultConfig.Delay(fixed: ProtoValues.duration(duration), percentage: percentage)
            case .headerDelay:
                delay = FaultConfig.Delay(fixed: nil, percentage: percentage)
            case nil:
                throw delayPath.error("fixed_delay or header_delay is required")
            }
        }
        var abort: FaultConfig.Abort?
        if fault.hasAbort {
            let abortPath = path / "abort"
            try SupportedFields.check(fault.abort, allowed: ["http_status", "grpc_status", "header_abort", "percentage"], at: abortPath)
            let percentage = try self.percentage(fault.abort.percentage, isSet: fault.abort.hasPercentage, at: abortPath / "percentage")
            switch fault.abort.errorType {
            case .httpStatus(let status):
                guard (200...599).contains(status) else {
                    throw (abortPath / "http_status").error("must be between 200 and 599")
                }
                abort = FaultConfig.Abort(httpStatus: Int(status), percentage: percentage)
            case .headerAbort:
                abort = FaultConfig.Abort(httpStatus: nil, percentage: percentage)
            case .grpcStatus(let status):
                abort = FaultConfig.Abort(httpStatus: nil, grpcStatus: Int(status), percentage: percentage)
            case nil:
                throw abortPath.error("http_status, grpc_status or header_abort is required")
            }
        }
        var config = FaultConfig(delay: delay, abort: abort)
        config.upstreamCluster = fault.upstreamCluster.isEmpty ? nil : fault.upstreamCluster
        config.headers = try fault.headers.enumerated().map { index, header in
            try RouteTranslator.headerMatcher(header, at: path / "headers" / index)
        }
        config.downstreamNodes = fault.downstreamNodes
        config.maxActiveFaults = fault.hasMaxActiveFaults ? Int(fault.maxActiveFaults.value) : nil
        return config
    }

    static func percentage(_ percent: Envoy_Type_V3_FractionalPercent, isSet: Bool, at path: FieldPath) throws -> FractionalPercent {
        guard isSet else { return .zero }
        try SupportedFields.check(percent, allowed: ["numerator", "denominator"], at: path)
        let denominator: UInt64
        switch percent.denominator {
        case .hundred: denominator = 100
        case .tenThousand: denominator = 10_000
        case .million: denominator = 1_000_000
        case .UNRECOGNIZED(let value):
            throw (path / "denominator").error("unknown denominator \(value)")
        }
        return FractionalPercent(numerator: UInt64(percent.numerator), denominator: denominator)
    }
}

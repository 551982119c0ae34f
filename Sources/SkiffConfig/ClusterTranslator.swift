import EnvoyAPI
import NIOCore
import SkiffCore
import SwiftProtobuf

/// `envoy.config.cluster.v3.Cluster` → `ClusterConfig`, with Envoy's defaults.
enum ClusterTranslator {
    static let allowed: Set<String> = [
        "name", "type", "connect_timeout", "lb_policy", "load_assignment", "max_requests_per_connection",
        "typed_extension_protocol_options", "dns_refresh_rate", "dns_lookup_family",
        "per_connection_buffer_limit_bytes", "least_request_lb_config", "metadata",
        "eds_cluster_config", "http2_protocol_options", "circuit_breakers", "outlier_detection", "common_lb_config",
        "health_checks", "transport_socket", "transport_socket_matches", "original_dst_lb_config", "cleanup_interval",
        "upstream_bind_config",
    ]

    static func translate(_ cluster: Envoy_Config_Cluster_V3_Cluster, at path: FieldPath) throws -> ClusterConfig {
        try SupportedFields.check(cluster, allowed: allowed, at: path)
        guard !cluster.name.isEmpty else {
            throw (path / "name").error("a cluster needs a name")
        }
        let discovery: ClusterConfig.Discovery
        switch cluster.clusterDiscoveryType {
        case .type(.static), nil: discovery = .staticHosts
        case .type(.strictDns): discovery = .strictDNS
        case .type(.logicalDns): discovery = .logicalDNS
        case .type(.eds): discovery = .eds
        case .type(.originalDst): discovery = .originalDst
        case .type(let other):
            throw (path / "type").error("cluster type \(other) is not supported yet (STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST)")
        case .clusterType:
            throw (path / "cluster_type").error("custom cluster types are not supported")
        }

        let endpoints = try Self.endpoints(of: cluster.loadAssignment, discovery: discovery, at: path / "load_assignment")
        if discovery == .logicalDNS, endpoints.count != 1 {
            throw (path / "load_assignment").error("LOGICAL_DNS clusters take exactly one endpoint")
        }

        var config = ClusterConfig(name: cluster.name, discovery: discovery, endpoints: endpoints)
        if discovery == .eds {
            try SupportedFields.check(cluster.edsClusterConfig, allowed: ["eds_config", "service_name"], at: path / "eds_cluster_config")
            let source = cluster.edsClusterConfig.edsConfig
            if cluster.edsClusterConfig.hasEdsConfig, case .path = source.configSourceSpecifier {
                throw (path / "eds_cluster_config" / "eds_config").error("only ads config sources are supported")
            }
            config.edsServiceName = cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
        }
        if discovery == .originalDst {
            config.originalDst = try originalDst(cluster, endpoints: endpoints, at: path)
        } else if case .originalDstLbConfig = cluster.lbConfig {
            throw (path / "original_dst_lb_config").error("only ORIGINAL_DST clusters take original_dst_lb_config")
        }
        if cluster.hasUpstreamBindConfig {
            let bind = cluster.upstreamBindConfig
            try SupportedFields.check(bind, allowed: ["source_address"], at: path / "upstream_bind_config")
            let source = bind.sourceAddress.address
            guard ProtoValues.ipLiteral(source) else {
                throw (path / "upstream_bind_config" / "source_address" / "address").error("\"\(source)\" is not an IP address")
            }
            config.upstreamBindAddress = source
        }
        if cluster.hasHTTP2ProtocolOptions {
            config.upstreamProtocol = .http2
            config.http2Options = try HTTPConnectionManagerTranslator.http2Options(cluster.http2ProtocolOptions, at: path / "http2_protocol_options")
        }
        try finish(cluster, into: &config, at: path)
        config.applyProtocolALPN()
        return config
    }

    /// `ORIGINAL_DST`: Envoy's rules — no endpoints, `lb_policy` CLUSTER_PROVIDED.
    static func originalDst(_ cluster: Envoy_Config_Cluster_V3_Cluster, endpoints: [EndpointConfig], at path: FieldPath) throws -> ClusterConfig.OriginalDst {
        guard endpoints.isEmpty else {
            throw (path / "load_assignment").error("ORIGINAL_DST clusters must have no load assignment configured")
        }
        guard cluster.lbPolicy == .clusterProvided else {
            throw (path / "lb_policy").error("\(cluster.lbPolicy) is not valid for cluster type ORIGINAL_DST; only CLUSTER_PROVIDED is allowed")
        }
        var out = ClusterConfig.OriginalDst()
        if case .originalDstLbConfig(let lb) = cluster.lbConfig {
            let lbPath = path / "original_dst_lb_config"
            try SupportedFields.check(lb, allowed: ["use_http_header", "http_header_name", "upstream_port_override"], at: lbPath)
            out.useHTTPHeader = lb.useHTTPHeader
            if !lb.httpHeaderName.isEmpty { out.headerName = lb.httpHeaderName.lowercased() }
            if lb.hasUpstreamPortOverride {
                guard (1...65535).contains(lb.upstreamPortOverride.value) else {
                    throw (lbPath / "upstream_port_override").error("must be a port (1-65535)")
                }
                out.portOverride = Int(lb.upstreamPortOverride.value)
            }
        }
        if cluster.hasCleanupInterval {
            out.cleanupInterval = ProtoValues.duration(cluster.cleanupInterval)
            guard out.cleanupInterval.nanoseconds > 0 else {
                throw (path / "cleanup_interval").error("must be greater than 0")
            }
        }
        return out
    }

    /// `ClusterLoadAssignment` (inline `load_assignment`, or one delivered by EDS) → endpoints.
    public static func endpoints(
        of assignment: Envoy_Config_Endpoint_V3_ClusterLoadAssignment, discovery: ClusterConfig.Discovery, at assignmentPath: FieldPath
    ) throws -> [EndpointConfig] {
        var endpoints: [EndpointConfig] = []
        try SupportedFields.check(assignment, allowed: ["cluster_name", "endpoints", "policy"], at: assignmentPath)
        for (li, locality) in assignment.endpoints.enumerated() {
            let localityPath = assignmentPath / "endpoints" / li
            try SupportedFields.check(locality, allowed: ["lb_endpoints", "locality", "load_balancing_weight"], at: localityPath)
            for (ei, lbEndpoint) in locality.lbEndpoints.enumerated() {
                let endpointPath = localityPath / "lb_endpoints" / ei
                try SupportedFields.check(lbEndpoint, allowed: ["endpoint", "load_balancing_weight", "health_status", "metadata"], at: endpointPath)
                try SupportedFields.check(lbEndpoint.endpoint, allowed: ["address", "hostname"], at: endpointPath / "endpoint")
                let address = try ProtoValues.socketAddress(lbEndpoint.endpoint.address, at: endpointPath / "endpoint" / "address")
                if discovery == .staticHosts || discovery == .eds, address.pipePath == nil, !ProtoValues.ipLiteral(address.host) {
                    throw (endpointPath / "endpoint" / "address" / "socket_address" / "address")
                        .error("STATIC clusters need IP addresses; \"\(address.host)\" is a name (use STRICT_DNS)")
                }
                let status: EndpointStatus
                switch lbEndpoint.healthStatus {
                case .unknown, .healthy: status = .healthy
                case .unhealthy, .timeout: status = .unhealthy
                case .degraded: status = .degraded
                case .draining: status = .draining
                case .UNRECOGNIZED(let value):
                    throw (endpointPath / "health_status").error("unknown value \(value)")
                }
                let weight = lbEndpoint.hasLoadBalancingWeight ? Int(lbEndpoint.loadBalancingWeight.value) : 1
                guard weight >= 1 else {
                    throw (endpointPath / "load_balancing_weight").error("must be at least 1")
                }
                var socketMatch: [String: String] = [:]
                if let fields = lbEndpoint.metadata.filterMetadata["envoy.transport_socket_match"]?.fields {
                    for (key, value) in fields {
                        if case .stringValue(let text) = value.kind { socketMatch[key] = text }
                    }
                }
                endpoints.append(EndpointConfig(address: address, weight: weight, status: status, socketMatch: socketMatch))
            }
        }
        return endpoints
    }

    private static func finish(_ cluster: Envoy_Config_Cluster_V3_Cluster, into config: inout ClusterConfig, at path: FieldPath) throws {
        if cluster.hasConnectTimeout {
            config.connectTimeout = ProtoValues.duration(cluster.connectTimeout)
            guard config.connectTimeout.nanoseconds > 0 else {
                throw (path / "connect_timeout").error("must be greater than 0")
            }
        }
        switch cluster.lbPolicy {
        case .clusterProvided where config.discovery == .originalDst: config.lbPolicy = .roundRobin
        case .roundRobin: config.lbPolicy = .roundRobin
        case .random: config.lbPolicy = .random
        case .leastRequest:
            var choices = 2
            if case .leastRequestLbConfig(let lrConfig) = cluster.lbConfig {
                try SupportedFields.check(lrConfig, allowed: ["choice_count"], at: path / "least_request_lb_config")
                if lrConfig.hasChoiceCount {
                    choices = Int(lrConfig.choiceCount.value)
                    guard choices >= 2 else {
                        throw (path / "least_request_lb_config" / "choice_count").error("must be at least 2")
                    }
                }
            }
            config.lbPolicy = .leastRequest(choiceCount: choices)
        default:
            throw (path / "lb_policy").error("\(cluster.lbPolicy) is not supported yet (ROUND_ROBIN, LEAST_REQUEST, RANDOM)")
        }
        if cluster.hasMaxRequestsPerConnection, cluster.maxRequestsPerConnection.value > 0 {
            config.maxRequestsPerConnection = Int(cluster.maxRequestsPerConnection.value)
        }
        if cluster.hasDnsRefreshRate {
            config.dnsRefreshRate = ProtoValues.duration(cluster.dnsRefreshRate)
            guard config.dnsRefreshRate.nanoseconds >= 1_000_000 else {
                throw (path / "dns_refresh_rate").error("must be at least 1ms")
            }
        }
        switch cluster.dnsLookupFamily {
        case .auto: config.dnsLookupFamily = .auto
        case .v4Only: config.dnsLookupFamily = .v4Only
        case .v6Only: config.dnsLookupFamily = .v6Only
        case .v4Preferred: config.dnsLookupFamily = .v4Preferred
        case .all: config.dnsLookupFamily = .all
        case .UNRECOGNIZED(let value):
            throw (path / "dns_lookup_family").error("unknown value \(value)")
        }
        if cluster.hasPerConnectionBufferLimitBytes {
            config.bufferLimitBytes = max(Int(cluster.perConnectionBufferLimitBytes.value), 1024)
        }
        if cluster.healthChecks.count > 1 {
            throw (path / "health_checks").error("one health check per cluster is supported")
        }
        if let check = cluster.healthChecks.first {
            config.healthCheck = try healthCheck(check, cluster: cluster.name, at: path / "health_checks" / 0)
        }
        if cluster.hasOutlierDetection {
            config.outlierDetection = try outlierDetection(cluster.outlierDetection, at: path / "outlier_detection")
        }
        if cluster.hasCommonLbConfig {
            let common = cluster.commonLbConfig
            try SupportedFields.check(common, allowed: ["healthy_panic_threshold"], at: path / "common_lb_config")
            if common.hasHealthyPanicThreshold {
                config.healthyPanicThreshold = Int(common.healthyPanicThreshold.value.rounded())
            }
        }
        if cluster.hasCircuitBreakers {
            config.circuitBreakers = try circuitBreakers(cluster.circuitBreakers, at: path / "circuit_breakers")
            config.perHostMaxConnections = try perHostMaxConnections(cluster.circuitBreakers, at: path / "circuit_breakers")
        }
        if cluster.hasTransportSocket {
            config.tls = try TLSTranslator.upstream(cluster.transportSocket, at: path / "transport_socket")
        }
        for (index, entry) in cluster.transportSocketMatches.enumerated() {
            let entryPath = path / "transport_socket_matches" / index
            try SupportedFields.check(entry, allowed: ["name", "match", "transport_socket"], at: entryPath)
            var match: [String: String] = [:]
            for (key, value) in entry.match.fields {
                guard case .stringValue(let text) = value.kind else {
                    throw (entryPath / "match" / key).error("match values must be strings")
                }
                match[key] = text
            }
            let tls = entry.hasTransportSocket ? try TLSTranslator.upstream(entry.transportSocket, at: entryPath / "transport_socket") : nil
            config.transportSocketMatches.append(TransportSocketMatch(name: entry.name, match: match, tls: tls))
        }
        for (key, any) in cluster.typedExtensionProtocolOptions.sorted(by: { $0.key < $1.key }) {
            try applyProtocolOptions(key: key, any: any, to: &config, at: path / "typed_extension_protocol_options" / key)
        }
    }

    /// `circuit_breakers`: the DEFAULT priority's thresholds apply (Skiff routes every request at
    /// DEFAULT priority; HIGH entries are validated and kept for when routes can ask for them).
    static func circuitBreakers(_ breakers: Envoy_Config_Cluster_V3_CircuitBreakers, at path: FieldPath) throws -> CircuitBreakerThresholds {
        try SupportedFields.check(breakers, allowed: ["thresholds", "per_host_thresholds"], at: path)
        var out = CircuitBreakerThresholds()
        for (index, threshold) in breakers.thresholds.enumerated() {
            let entryPath = path / "thresholds" / index
            try SupportedFields.check(
                threshold,
                allowed: ["priority", "max_connections", "max_pending_requests", "max_requests", "max_retries", "track_remaining", "retry_budget"],
                at: entryPath, hint: "max_connection_pools arrives later"
            )
            var entry = CircuitBreakerThresholds()
            if threshold.hasMaxConnections { entry.maxConnections = Int(threshold.maxConnections.value) }
            if threshold.hasMaxPendingRequests { entry.maxPendingRequests = Int(threshold.maxPendingRequests.value) }
            if threshold.hasMaxRequests { entry.maxRequests = Int(threshold.maxRequests.value) }
            if threshold.hasMaxRetries { entry.maxRetries = Int(threshold.maxRetries.value) }
            entry.trackRemaining = threshold.trackRemaining
            if threshold.hasRetryBudget {
                let budget = threshold.retryBudget
                try SupportedFields.check(budget, allowed: ["budget_percent", "min_retry_concurrency"], at: entryPath / "retry_budget")
                var out = RetryBudget()
                if budget.hasBudgetPercent {
                    out.budgetPercent = budget.budgetPercent.value
                    guard (0...100).contains(out.budgetPercent) else {
                        throw (entryPath / "retry_budget" / "budget_percent").error("must be between 0 and 100")
                    }
                }
                if budget.hasMinRetryConcurrency { out.minRetryConcurrency = Int(budget.minRetryConcurrency.value) }
                entry.retryBudget = out
            }
            if threshold.priority == .default {
                out = entry
            }
        }
        return out
    }

    /// One active health check: HTTP (path, host, expected statuses) or TCP (send / receive).
    static func healthCheck(_ check: Envoy_Config_Core_V3_HealthCheck, cluster: String, at path: FieldPath) throws -> HealthCheckConfig {
        try SupportedFields.check(
            check,
            allowed: [
                "timeout", "interval", "interval_jitter", "unhealthy_threshold", "healthy_threshold",
                "http_health_check", "tcp_health_check", "interval_jitter_percent", "initial_jitter",
                "no_traffic_interval", "no_traffic_healthy_interval", "unhealthy_interval", "unhealthy_edge_interval",
                "healthy_edge_interval", "reuse_connection", "always_log_health_check_failures",
                "always_log_health_check_success",
            ],
            at: path, hint: "grpc and custom health checkers and event logs arrive later"
        )
        guard check.hasTimeout, check.hasInterval, check.hasUnhealthyThreshold, check.hasHealthyThreshold else {
            throw path.error("timeout, interval, unhealthy_threshold and healthy_threshold are required")
        }
        let kind: HealthCheckConfig.Kind
        switch check.healthChecker {
        case .httpHealthCheck(let http):
            try SupportedFields.check(http, allowed: ["path", "host", "expected_statuses"], at: path / "http_health_check")
            guard http.path.hasPrefix("/") else {
                throw (path / "http_health_check" / "path").error("a path starting with / is required")
            }
            var expected: [Range<Int>] = []
            for (index, range) in http.expectedStatuses.enumerated() {
                guard range.start >= 100, range.end <= 600, range.start < range.end else {
                    throw (path / "http_health_check" / "expected_statuses" / index).error("must be a range within [100, 600)")
                }
                expected.append(Int(range.start)..<Int(range.end))
            }
            kind = .http(path: http.path, host: http.host.isEmpty ? nil : http.host, expected: expected.isEmpty ? [200..<201] : expected)
        case .tcpHealthCheck(let tcp):
            try SupportedFields.check(tcp, allowed: ["send", "receive"], at: path / "tcp_health_check")
            let send = try payload(tcp.send, isSet: tcp.hasSend, at: path / "tcp_health_check" / "send")
            let receive = try tcp.receive.enumerated().map { index, item in
                try payload(item, isSet: true, at: path / "tcp_health_check" / "receive" / index)
            }
            kind = .tcp(send: send, receive: receive)
        default:
            throw path.error("http_health_check or tcp_health_check is required")
        }
        var out = HealthCheckConfig(
            kind: kind, timeout: ProtoValues.duration(check.timeout), interval: ProtoValues.duration(check.interval),
            unhealthyThreshold: max(1, Int(check.unhealthyThreshold.value)), healthyThreshold: max(1, Int(check.healthyThreshold.value))
        )
        if check.hasIntervalJitter { out.intervalJitter = ProtoValues.duration(check.intervalJitter) }
        out.intervalJitterPercent = Int(check.intervalJitterPercent)
        if check.hasInitialJitter { out.initialJitter = ProtoValues.duration(check.initialJitter) }
        func positive(_ duration: Google_Protobuf_Duration, _ isSet: Bool, _ field: String) throws -> TimeAmount? {
            guard isSet else { return nil }
            let value = ProtoValues.duration(duration)
            guard value.nanoseconds >= 1_000_000 else { throw (path / field).error("must be at least 1ms") }
            return value
        }
        out.noTrafficInterval = try positive(check.noTrafficInterval, check.hasNoTrafficInterval, "no_traffic_interval") ?? .seconds(60)
        out.noTrafficHealthyInterval = try positive(check.noTrafficHealthyInterval, check.hasNoTrafficHealthyInterval, "no_traffic_healthy_interval")
        out.unhealthyInterval = try positive(check.unhealthyInterval, check.hasUnhealthyInterval, "unhealthy_interval")
        out.unhealthyEdgeInterval = try positive(check.unhealthyEdgeInterval, check.hasUnhealthyEdgeInterval, "unhealthy_edge_interval")
        out.healthyEdgeInterval = try positive(check.healthyEdgeInterval, check.hasHealthyEdgeInterval, "healthy_edge_interval")
        guard out.interval.nanoseconds >= 1_000_000, out.timeout.nanoseconds >= 1_000_000 else {
            throw path.error("interval and timeout must be at least 1ms")
        }
        return out
    }

    /// `HealthCheck.Payload`: `text` is hex, as in Envoy; `binary` is raw bytes.
    static func payload(_ payload: Envoy_Config_Core_V3_HealthCheck.Payload, isSet: Bool, at path: FieldPath) throws -> [UInt8] {
        guard isSet else { return [] }
        switch payload.payload {
        case .text(let hex):
            var bytes: [UInt8] = []
            var digits = Array(hex.utf8)
            guard digits.count % 2 == 0 else { throw (path / "text").error("hex text needs an even number of digits") }
            while !digits.isEmpty {
                guard let byte = UInt8(String(decoding: digits.prefix(2), as: UTF8.self), radix: 16) else {
                    throw (path / "text").error("not hex: \(hex)")
                }
                bytes.append(byte)
                digits.removeFirst(2)
            }
            return bytes
        case .binary(let data):
            return Array(data)
        case nil:
            return []
        }
    }

    /// `per_host_thresholds`: Envoy honours only `max_connections` there (DEFAULT priority).
    static func perHostMaxConnections(_ breakers: Envoy_Config_Cluster_V3_CircuitBreakers, at path: FieldPath) throws -> Int? {
        var out: Int?
        for (index, threshold) in breakers.perHostThresholds.enumerated() {
            let entryPath = path / "per_host_thresholds" / index
            try SupportedFields.check(threshold, allowed: ["priority", "max_connections"], at: entryPath,
                                      hint: "only max_connections applies per host")
            if threshold.priority == .default, threshold.hasMaxConnections {
                out = Int(threshold.maxConnections.value)
            }
        }
        return out
    }

    /// `outlier_detection`: every Envoy detection type (consecutive 5xx, gateway and
    /// local-origin failures, success rate, failure percentage) with Envoy's defaults.
    static func outlierDetection(_ od: Envoy_Config_Cluster_V3_OutlierDetection, at path: FieldPath) throws -> OutlierDetectionConfig {
        try SupportedFields.check(
            od,
            allowed: [
                "consecutive_5xx", "enforcing_consecutive_5xx", "consecutive_gateway_failure",
                "enforcing_consecutive_gateway_failure", "interval", "base_ejection_time", "max_ejection_time",
                "max_ejection_time_jitter", "max_ejection_percent", "always_eject_one_host", "enforcing_success_rate",
                "split_external_local_origin_errors", "consecutive_local_origin_failure",
                "enforcing_consecutive_local_origin_failure", "enforcing_local_origin_success_rate",
                "success_rate_minimum_hosts", "success_rate_request_volume", "success_rate_stdev_factor",
                "failure_percentage_threshold", "enforcing_failure_percentage", "enforcing_failure_percentage_local_origin",
                "failure_percentage_minimum_hosts", "failure_percentage_request_volume",
            ],
            at: path, hint: "successful_active_health_check_uneject_host and monitors arrive later"
        )
        var out = OutlierDetectionConfig()
        func int(_ value: Google_Protobuf_UInt32Value, _ isSet: Bool, _ field: String, into target: inout Int, percent: Bool = false) throws {
            guard isSet else { return }
            if percent, value.value > 100 { throw (path / field).error("must be between 0 and 100") }
            target = Int(value.value)
        }
        try int(od.consecutive5Xx, od.hasConsecutive5Xx, "consecutive_5xx", into: &out.consecutive5xx)
        try int(od.enforcingConsecutive5Xx, od.hasEnforcingConsecutive5Xx, "enforcing_consecutive_5xx", into: &out.enforcingConsecutive5xx, percent: true)
        try int(od.consecutiveGatewayFailure, od.hasConsecutiveGatewayFailure, "consecutive_gateway_failure", into: &out.consecutiveGatewayFailure)
        try int(od.enforcingConsecutiveGatewayFailure, od.hasEnforcingConsecutiveGatewayFailure, "enforcing_consecutive_gateway_failure",
                into: &out.enforcingConsecutiveGatewayFailure, percent: true)
        try int(od.consecutiveLocalOriginFailure, od.hasConsecutiveLocalOriginFailure, "consecutive_local_origin_failure",
                into: &out.consecutiveLocalOriginFailure)
        try int(od.enforcingConsecutiveLocalOriginFailure, od.hasEnforcingConsecutiveLocalOriginFailure,
                "enforcing_consecutive_local_origin_failure", into: &out.enforcingConsecutiveLocalOriginFailure, percent: true)
        try int(od.enforcingSuccessRate, od.hasEnforcingSuccessRate, "enforcing_success_rate", into: &out.enforcingSuccessRate, percent: true)
        try int(od.enforcingLocalOriginSuccessRate, od.hasEnforcingLocalOriginSuccessRate, "enforcing_local_origin_success_rate",
                into: &out.enforcingLocalOriginSuccessRate, percent: true)
        try int(od.successRateMinimumHosts, od.hasSuccessRateMinimumHosts, "success_rate_minimum_hosts", into: &out.successRateMinimumHosts)
        try int(od.successRateRequestVolume, od.hasSuccessRateRequestVolume, "success_rate_request_volume", into: &out.successRateRequestVolume)
        try int(od.successRateStdevFactor, od.hasSuccessRateStdevFactor, "success_rate_stdev_factor", into: &out.successRateStdevFactor)
        try int(od.failurePercentageThreshold, od.hasFailurePercentageThreshold, "failure_percentage_threshold",
                into: &out.failurePercentageThreshold, percent: true)
        try int(od.enforcingFailurePercentage, od.hasEnforcingFailurePercentage, "enforcing_failure_percentage",
                into: &out.enforcingFailurePercentage, percent: true)
        try int(od.enforcingFailurePercentageLocalOrigin, od.hasEnforcingFailurePercentageLocalOrigin,
                "enforcing_failure_percentage_local_origin", into: &out.enforcingFailurePercentageLocalOrigin, percent: true)
        try int(od.failurePercentageMinimumHosts, od.hasFailurePercentageMinimumHosts, "failure_percentage_minimum_hosts",
                into: &out.failurePercentageMinimumHosts)
        try int(od.failurePercentageRequestVolume, od.hasFailurePercentageRequestVolume, "failure_percentage_request_volume",
                into: &out.failurePercentageRequestVolume)
        try int(od.maxEjectionPercent, od.hasMaxEjectionPercent, "max_ejection_percent", into: &out.maxEjectionPercent, percent: true)
        out.splitExternalLocalOriginErrors = od.splitExternalLocalOriginErrors
        if od.hasInterval { out.interval = ProtoValues.duration(od.interval) }
        if od.hasBaseEjectionTime { out.baseEjectionTime = ProtoValues.duration(od.baseEjectionTime) }
        if od.hasMaxEjectionTime { out.maxEjectionTime = ProtoValues.duration(od.maxEjectionTime) }
        if od.hasMaxEjectionTimeJitter { out.maxEjectionTimeJitter = ProtoValues.duration(od.maxEjectionTimeJitter) }
        out.alwaysEjectOneHost = od.hasAlwaysEjectOneHost && od.alwaysEjectOneHost.value
        guard out.interval.nanoseconds >= 1_000_000 else {
            throw (path / "interval").error("must be at least 1ms")
        }
        if out.maxEjectionTime.nanoseconds < out.baseEjectionTime.nanoseconds {
            out.maxEjectionTime = out.baseEjectionTime
        }
        return out
    }

    /// `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`: HTTP/1.1 upstreams and the
    /// common options Skiff implements (idle timeout, max requests per connection).
    static func applyProtocolOptions(key: String, any: Google_Protobuf_Any, to config: inout ClusterConfig, at path: FieldPath) throws {
        guard key == "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" else {
            throw path.error("unknown protocol options extension")
        }
        let options = try unpack(Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.self, from: any, at: path)
        try SupportedFields.check(
            options, allowed: ["common_http_protocol_options", "explicit_http_config", "use_downstream_protocol_config", "auto_config"], at: path
        )
        switch options.upstreamProtocolOptions {
        case .explicitHTTPConfig(let explicit):
            switch explicit.protocolConfig {
            case .httpProtocolOptions:
                config.upstreamProtocol = .http1
            case .http2ProtocolOptions(let http2):
                config.upstreamProtocol = .http2
                config.http2Options = try HTTPConnectionManagerTranslator.http2Options(http2, at: path / "explicit_http_config" / "http2_protocol_options")
            default:
                throw (path / "explicit_http_config").error("only http_protocol_options and http2_protocol_options are supported")
            }
        case .useDownstreamProtocolConfig(let downstream):
            config.upstreamProtocol = .downstream
            if downstream.hasHTTP2ProtocolOptions {
                config.http2Options = try HTTPConnectionManagerTranslator.http2Options(
                    downstream.http2ProtocolOptions, at: path / "use_downstream_protocol_config" / "http2_protocol_options"
                )
            }
            if downstream.hasHTTP3ProtocolOptions {
                throw (path / "use_downstream_protocol_config" / "http3_protocol_options").error("HTTP/3 is not supported")
            }
        case .autoConfig(let auto):
            config.upstreamProtocol = .alpn
            if auto.hasHTTP2ProtocolOptions {
                config.http2Options = try HTTPConnectionManagerTranslator.http2Options(auto.http2ProtocolOptions, at: path / "auto_config" / "http2_protocol_options")
            }
            if auto.hasHTTP3ProtocolOptions {
                throw (path / "auto_config" / "http3_protocol_options").error("HTTP/3 is not supported")
            }
        case nil:
            break
        }
        if options.hasCommonHTTPProtocolOptions {
            let common = options.commonHTTPProtocolOptions
            try SupportedFields.check(common, allowed: ["idle_timeout", "max_requests_per_connection"], at: path / "common_http_protocol_options")
            config.idleTimeout = ProtoValues.timeout(common.idleTimeout, isSet: common.hasIdleTimeout, default: config.idleTimeout)
            if common.hasMaxRequestsPerConnection, common.maxRequestsPerConnection.value > 0 {
                config.maxRequestsPerConnection = Int(common.maxRequestsPerConnection.value)
            }
        }
    }
}

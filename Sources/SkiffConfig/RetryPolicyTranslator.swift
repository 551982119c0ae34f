import EnvoyAPI
import NIOCore
import SkiffCore

/// `envoy.config.route.v3.RetryPolicy` → `RetryPolicy`, with Envoy's defaults (one retry,
/// 25 ms base back-off, max 10 × base).
enum RetryPolicyTranslator {
    static let previousHosts = "envoy.retry_host_predicates.previous_hosts"

    static func translate(_ policy: Envoy_Config_Route_V3_RetryPolicy, at path: FieldPath) throws -> RetryPolicy {
        try SupportedFields.check(
            policy,
            allowed: [
                "retry_on", "num_retries", "per_try_timeout", "retry_back_off",
                "retriable_status_codes", "retriable_headers", "retry_host_predicate",
                "host_selection_retry_max_attempts", "per_try_idle_timeout",
            ],
            at: path
        )
        var out = RetryPolicy(retryOn: RetryPolicy.Conditions(parsing: policy.retryOn))
        if policy.hasNumRetries {
            out.numRetries = Int(policy.numRetries.value)
        }
        if policy.hasPerTryTimeout {
            let timeout = ProtoValues.duration(policy.perTryTimeout)
            out.perTryTimeout = timeout.nanoseconds > 0 ? timeout : nil
        }
        if policy.hasPerTryIdleTimeout {
            let timeout = ProtoValues.duration(policy.perTryIdleTimeout)
            out.perTryIdleTimeout = timeout.nanoseconds > 0 ? timeout : nil
        }
        if policy.hasRetryBackOff {
            let backoff = policy.retryBackOff
            try SupportedFields.check(backoff, allowed: ["base_interval", "max_interval"], at: path / "retry_back_off")
            let base = ProtoValues.duration(backoff.baseInterval)
            guard base.nanoseconds >= 1_000_000 else {
                throw (path / "retry_back_off" / "base_interval").error("must be at least 1ms")
            }
            out.backoffBase = base
            out.backoffMax = .nanoseconds(base.nanoseconds * 10)
            if backoff.hasMaxInterval {
                let max = ProtoValues.duration(backoff.maxInterval)
                guard max.nanoseconds >= base.nanoseconds else {
                    throw (path / "retry_back_off" / "max_interval").error("must not be less than base_interval")
                }
                out.backoffMax = max
            }
        }
        for (index, code) in policy.retriableStatusCodes.enumerated() {
            guard (100...599).contains(code) else {
                throw (path / "retriable_status_codes" / index).error("\(code) is not an HTTP status")
            }
            out.retriableStatusCodes.insert(Int(code))
        }
        for (index, header) in policy.retriableHeaders.enumerated() {
            try SupportedFields.check(header, allowed: ["name", "present_match"], at: path / "retriable_headers" / index,
                                      hint: "only present_match retriable headers are supported")
            out.retriableHeaders.append(header.name.lowercased())
        }
        for (index, predicate) in policy.retryHostPredicate.enumerated() {
            let predicatePath = path / "retry_host_predicate" / index
            guard predicate.name == previousHosts || predicate.typedConfig.typeURL.hasSuffix("PreviousHostsPredicate") else {
                throw (predicatePath / "name").error("only \(previousHosts) is supported")
            }
            out.avoidPreviousHosts = true
        }
        if policy.hostSelectionRetryMaxAttempts > 0 {
            out.hostSelectionMaxAttempts = Int(policy.hostSelectionRetryMaxAttempts)
        }
        return out
    }
}

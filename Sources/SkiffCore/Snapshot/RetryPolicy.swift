import NIOCore

/// `envoy.config.route.v3.RetryPolicy` after translation (route, or its virtual host's).
public struct RetryPolicy: Sendable, Equatable {
    /// `retry_on` conditions (Envoy's tokens; unknown tokens are ignored, as Envoy does).
    public struct Conditions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let fiveXX = Conditions(rawValue: 1 << 0)
        public static let gatewayError = Conditions(rawValue: 1 << 1)
        public static let reset = Conditions(rawValue: 1 << 2)
        public static let resetBeforeRequest = Conditions(rawValue: 1 << 3)
        public static let connectFailure = Conditions(rawValue: 1 << 4)
        public static let retriable4xx = Conditions(rawValue: 1 << 5)
        public static let refusedStream = Conditions(rawValue: 1 << 6)
        public static let retriableStatusCodes = Conditions(rawValue: 1 << 7)
        public static let retriableHeaders = Conditions(rawValue: 1 << 8)
        public static let grpcCancelled = Conditions(rawValue: 1 << 9)
        public static let grpcDeadlineExceeded = Conditions(rawValue: 1 << 10)
        public static let grpcInternal = Conditions(rawValue: 1 << 11)
        public static let grpcResourceExhausted = Conditions(rawValue: 1 << 12)
        public static let grpcUnavailable = Conditions(rawValue: 1 << 13)

        static let tokens: [String: Conditions] = [
            "5xx": .fiveXX, "gateway-error": .gatewayError, "reset": .reset,
            "reset-before-request": .resetBeforeRequest, "connect-failure": .connectFailure,
            "retriable-4xx": .retriable4xx, "refused-stream": .refusedStream,
            "retriable-status-codes": .retriableStatusCodes, "retriable-headers": .retriableHeaders,
            "cancelled": .grpcCancelled, "deadline-exceeded": .grpcDeadlineExceeded, "internal": .grpcInternal,
            "resource-exhausted": .grpcResourceExhausted, "unavailable": .grpcUnavailable,
        ]

        /// Parses a comma-separated `retry_on` / `x-envoy-retry-on` value.
        public init(parsing text: some StringProtocol) {
            var out: Conditions = []
            for token in text.split(separator: ",") {
                let trimmed = token.trimmingSpaces()
                if let condition = Self.tokens[trimmed] { out.insert(condition) }
            }
            self = out
        }
    }

    public var retryOn: Conditions
    /// `num_retries` (Envoy default 1).
    public var numRetries: Int
    /// `per_try_timeout` (default: none, only the route timeout applies).
    public var perTryTimeout: TimeAmount?
    /// `per_try_idle_timeout`: no upstream bytes for this long ends the attempt.
    public var perTryIdleTimeout: TimeAmount?
    /// `retry_back_off.base_interval` (default 25 ms) and `max_interval` (default 10 × base).
    public var backoffBase: TimeAmount
    public var backoffMax: TimeAmount
    /// `retriable_status_codes`, used with `retriable-status-codes`.
    public var retriableStatusCodes: Set<Int>
    /// `retriable_headers` names (present → retry), used with `retriable-headers`.
    public var retriableHeaders: [String]
    /// `retry_host_predicate` `envoy.retry_host_predicates.previous_hosts`.
    public var avoidPreviousHosts: Bool
    /// `host_selection_retry_max_attempts` (default 1).
    public var hostSelectionMaxAttempts: Int

    public init(retryOn: Conditions, numRetries: Int = 1) {
        self.retryOn = retryOn
        self.numRetries = numRetries
        self.perTryTimeout = nil
        self.perTryIdleTimeout = nil
        self.backoffBase = .milliseconds(25)
        self.backoffMax = .milliseconds(250)
        self.retriableStatusCodes = []
        self.retriableHeaders = []
        self.avoidPreviousHosts = false
        self.hostSelectionMaxAttempts = 1
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (header and token values).
    public func trimmingSpaces() -> String {
        var slice = Substring(self)
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}

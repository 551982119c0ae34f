/// One `access_log` entry of a connection manager: where lines go, their format, and which
/// requests are logged (`envoy.access_loggers.file`, `stdout`, `stderr`).
public struct AccessLogConfig: Sendable {
    public enum Sink: Sendable, Hashable {
        case file(String)
        case stdout
        case stderr
    }

    public var sink: Sink
    public var format: AccessLogFormat
    public var filter: AccessLogFilter?

    public init(sink: Sink, format: AccessLogFormat, filter: AccessLogFilter? = nil) {
        self.sink = sink
        self.format = format
        self.filter = filter
    }
}

/// A parsed format: text with command operators (`%START_TIME%`, `%REQ(:PATH)%`, ...), or a
/// flat JSON object whose values are such texts (`json_format`).
public enum AccessLogFormat: Sendable {
    case text([AccessLogPiece])
    case json([(key: String, value: [AccessLogPiece])])

    /// Envoy's default format, used when an access log names none.
    public static let envoyDefaultText = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
        + "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
        + "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "
        + "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n"
}

/// A piece of a format string: literal text or a command operator.
public enum AccessLogPiece: Sendable, Equatable {
    case text(String)
    case command(AccessLogCommand)
}

/// The command operators Skiff evaluates, with Envoy's names.
public enum AccessLogCommand: Sendable, Equatable {
    /// `%START_TIME%` (nil: Envoy's default `%Y-%m-%dT%H:%M:%S.%3fZ`, UTC) or `%START_TIME(fmt)%`.
    case startTime(String?)
    /// `%REQ(A?B):N%`: the first header present among the names, truncated to N characters.
    case requestHeader([String], maxLength: Int?)
    /// `%RESP(A?B):N%`.
    case responseHeader([String], maxLength: Int?)
    /// `%TRAILER(A?B):N%` (response trailers).
    case responseTrailer([String], maxLength: Int?)
    case responseCode
    case responseCodeDetails
    case responseFlags
    case bytesReceived
    case bytesSent
    case duration
    case requestDuration
    case responseDuration
    case upstreamHost
    case upstreamCluster
    case upstreamLocalAddress
    case upstreamTransportFailureReason
    case upstreamRequestAttemptCount
    case downstreamRemoteAddress
    case downstreamRemoteAddressWithoutPort
    case downstreamLocalAddress
    case downstreamLocalAddressWithoutPort
    case downstreamPeerURISAN
    case downstreamLocalURISAN
    case requestedServerName
    case `protocol`
    case routeName
    case connectionID
    case hostname

    /// Whether the value is a number (`json_format` writes it unquoted).
    public var isNumeric: Bool {
        switch self {
        case .responseCode, .bytesReceived, .bytesSent, .duration, .requestDuration, .responseDuration,
             .upstreamRequestAttemptCount, .connectionID:
            return true
        default:
            return false
        }
    }

    static let simple: [String: AccessLogCommand] = [
        "RESPONSE_CODE": .responseCode, "RESPONSE_CODE_DETAILS": .responseCodeDetails,
        "RESPONSE_FLAGS": .responseFlags, "BYTES_RECEIVED": .bytesReceived, "BYTES_SENT": .bytesSent,
        "DURATION": .duration, "REQUEST_DURATION": .requestDuration, "RESPONSE_DURATION": .responseDuration,
        "UPSTREAM_HOST": .upstreamHost, "UPSTREAM_CLUSTER": .upstreamCluster,
        "UPSTREAM_LOCAL_ADDRESS": .upstreamLocalAddress,
        "UPSTREAM_TRANSPORT_FAILURE_REASON": .upstreamTransportFailureReason,
        "UPSTREAM_REQUEST_ATTEMPT_COUNT": .upstreamRequestAttemptCount,
        "DOWNSTREAM_REMOTE_ADDRESS": .downstreamRemoteAddress,
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": .downstreamRemoteAddressWithoutPort,
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS": .downstreamRemoteAddress,
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": .downstreamRemoteAddressWithoutPort,
        "DOWNSTREAM_LOCAL_ADDRESS": .downstreamLocalAddress,
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": .downstreamLocalAddressWithoutPort,
        "DOWNSTREAM_PEER_URI_SAN": .downstreamPeerURISAN, "DOWNSTREAM_LOCAL_URI_SAN": .downstreamLocalURISAN,
        "REQUESTED_SERVER_NAME": .requestedServerName, "PROTOCOL": .protocol, "ROUTE_NAME": .routeName,
        "CONNECTION_ID": .connectionID, "HOSTNAME": .hostname,
    ]
}

/// `filter` of an access log (`envoy.config.accesslog.v3.AccessLogFilter`).
public indirect enum AccessLogFilter: Sendable, Equatable {
    public enum Comparison: Sendable, Equatable {
        case equal, greaterOrEqual, lessOrEqual
    }

    case statusCode(Comparison, Int)
    case duration(Comparison, Int)
    /// `not_health_check_filter`: Skiff's health checks never pass a listener, so always true.
    case notHealthCheck
    /// `response_flag_filter` (empty: any flag set).
    case responseFlags(Set<String>)
    case and([AccessLogFilter])
    case or([AccessLogFilter])
}

/// Parsing of Envoy's format strings.
public enum AccessLogFormatParser {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }

        public init(message: String) {
            self.message = message
        }
    }

    /// Splits `format` into text and operators; an unknown operator is an error naming it.
    public static func parse(_ format: String) throws -> [AccessLogPiece] {
        var pieces: [AccessLogPiece] = []
        var literal = ""
        var rest = Substring(format)
        while let percent = rest.firstIndex(of: "%") {
            literal += rest[..<percent]
            let afterPercent = rest.index(after: percent)
            // `%%` is a literal percent sign.
            if afterPercent < rest.endIndex, rest[afterPercent] == "%" {
                literal += "%"
                rest = rest[rest.index(after: afterPercent)...]
                continue
            }
            guard let close = closingPercent(in: rest[afterPercent...]) else {
                throw ParseError(message: "unterminated command operator in \"\(format)\"")
            }
            if !literal.isEmpty {
                pieces.append(.text(literal))
                literal = ""
            }
            pieces.append(.command(try command(String(rest[afterPercent..<close]))))
            rest = rest[rest.index(after: close)...]
        }
        literal += rest
        if !literal.isEmpty { pieces.append(.text(literal)) }
        return pieces
    }

    /// The `%` ending an operator; a `START_TIME(...)` argument may itself contain `%`.
    private static func closingPercent(in text: Substring) -> Substring.Index? {
        var depth = 0
        var index = text.startIndex
        while index < text.endIndex {
            switch text[index] {
            case "(": depth += 1
            case ")": depth = max(0, depth - 1)
            case "%" where depth == 0: return index
            default: break
            }
            index = text.index(after: index)
        }
        return nil
    }

    static func command(_ body: String) throws -> AccessLogCommand {
        if let simple = AccessLogCommand.simple[body] { return simple }
        if body == "START_TIME" { return .startTime(nil) }
        if body.hasPrefix("START_TIME("), body.hasSuffix(")") {
            return .startTime(String(body.dropFirst("START_TIME(".count).dropLast()))
        }
        for (prefix, make) in [
            ("REQ(", AccessLogCommand.requestHeader), ("RESP(", AccessLogCommand.responseHeader),
            ("TRAILER(", AccessLogCommand.responseTrailer),
        ] where body.hasPrefix(prefix) {
            guard let closing = body.lastIndex(of: ")") else { break }
            let names = body[body.index(body.startIndex, offsetBy: prefix.count)..<closing]
                .split(separator: "?").map { $0.lowercased() }
            guard !names.isEmpty, names.count <= 2 else {
                throw ParseError(message: "\(prefix)...) takes one header name or two separated by '?': %\(body)%")
            }
            let tail = body[body.index(after: closing)...]
            var maxLength: Int?
            if !tail.isEmpty {
                guard tail.first == ":", let length = Int(tail.dropFirst()), length > 0 else {
                    throw ParseError(message: "bad length in %\(body)%")
                }
                maxLength = length
            }
            return make(names, maxLength)
        }
        throw ParseError(message: "unsupported command operator %\(body)%")
    }
}

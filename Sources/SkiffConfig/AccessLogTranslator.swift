#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EnvoyAPI
import SkiffCore
import SwiftProtobuf

/// `access_log` entries → `AccessLogConfig`: `envoy.access_loggers.file`, `stdout`, `stderr`,
/// with `log_format` (`text_format_source` inline, `text_format`, `json_format`), the deprecated
/// `format`, Envoy's default format when none is given, and the status-code, duration,
/// response-flag, not-health-check, and/or filters.
enum AccessLogTranslator {
    static let fileType = "envoy.extensions.access_loggers.file.v3.FileAccessLog"
    static let stdoutType = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
    static let stderrType = "envoy.extensions.access_loggers.stream.v3.StderrAccessLog"

    static func translate(_ logs: [Envoy_Config_Accesslog_V3_AccessLog], at path: FieldPath) throws -> [AccessLogConfig] {
        try logs.enumerated().map { index, log in try translate(log, at: path / index) }
    }

    static func translate(_ log: Envoy_Config_Accesslog_V3_AccessLog, at path: FieldPath) throws -> AccessLogConfig {
        try SupportedFields.check(log, allowed: ["name", "typed_config", "filter"], at: path)
        guard case .typedConfig(let any) = log.configType else {
            throw (path / "typed_config").error("typed_config is required")
        }
        let typeName = any.typeURL.split(separator: "/").last.map(String.init) ?? ""
        let configPath = path / "typed_config"
        var config: AccessLogConfig
        switch typeName {
        case fileType:
            let file = try unpack(Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog.self, from: any, at: configPath)
            try SupportedFields.check(file, allowed: ["path", "format", "json_format", "typed_json_format", "log_format"], at: configPath)
            guard !file.path.isEmpty else { throw (configPath / "path").error("path is required") }
            try checkWritable(file.path, at: configPath / "path")
            let format: AccessLogFormat
            switch file.accessLogFormat {
            case .format(let text)?: format = try textFormat(text, at: configPath / "format")
            case .jsonFormat(let json)?, .typedJsonFormat(let json)?: format = try jsonFormat(json, at: configPath / "json_format")
            case .logFormat(let substitution)?: format = try logFormat(substitution, at: configPath / "log_format")
            case nil: format = try textFormat(AccessLogFormat.envoyDefaultText, at: configPath)
            }
            config = AccessLogConfig(sink: file.path == "/dev/stdout" ? .stdout : file.path == "/dev/stderr" ? .stderr : .file(file.path), format: format)
        case stdoutType:
            let stream = try unpack(Envoy_Extensions_AccessLoggers_Stream_V3_StdoutAccessLog.self, from: any, at: configPath)
            try SupportedFields.check(stream, allowed: ["log_format"], at: configPath)
            config = AccessLogConfig(sink: .stdout, format: try streamFormat(stream.accessLogFormat.map { _ in stream.logFormat }, at: configPath))
        case stderrType:
            let stream = try unpack(Envoy_Extensions_AccessLoggers_Stream_V3_StderrAccessLog.self, from: any, at: configPath)
            try SupportedFields.check(stream, allowed: ["log_format"], at: configPath)
            config = AccessLogConfig(sink: .stderr, format: try streamFormat(stream.accessLogFormat.map { _ in stream.logFormat }, at: configPath))
        default:
            throw configPath.error("unsupported access logger \(typeName) (file, stdout, stderr)")
        }
        if log.hasFilter {
            config.filter = try filter(log.filter, at: path / "filter")
        }
        return config
    }

    /// A log file that cannot be opened for appending is a configuration error, found when the
    /// configuration loads (Envoy creates the file then too), not at the first request.
    static func checkWritable(_ path: String, at fieldPath: FieldPath) throws {
        guard path != "/dev/stdout", path != "/dev/stderr" else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw fieldPath.error("cannot open \(path) for appending: \(String(cString: strerror(errno)))")
        }
        close(fd)
    }

    static func streamFormat(_ format: Envoy_Config_Core_V3_SubstitutionFormatString?, at path: FieldPath) throws -> AccessLogFormat {
        guard let format else { return try textFormat(AccessLogFormat.envoyDefaultText, at: path) }
        return try logFormat(format, at: path / "log_format")
    }

    static func logFormat(_ format: Envoy_Config_Core_V3_SubstitutionFormatString, at path: FieldPath) throws -> AccessLogFormat {
        try SupportedFields.check(format, allowed: ["text_format", "json_format", "text_format_source", "content_type"], at: path)
        switch format.format {
        case .textFormat(let text)?: return try textFormat(text, at: path / "text_format")
        case .jsonFormat(let json)?: return try jsonFormat(json, at: path / "json_format")
        case .textFormatSource(let source)?:
            guard case .inlineString(let text)? = source.specifier else {
                throw (path / "text_format_source").error("only inline_string is supported")
            }
            return try textFormat(text, at: path / "text_format_source" / "inline_string")
        case nil: return try textFormat(AccessLogFormat.envoyDefaultText, at: path)
        }
    }

    static func textFormat(_ text: String, at path: FieldPath) throws -> AccessLogFormat {
        do {
            return .text(try AccessLogFormatParser.parse(text))
        } catch let error as AccessLogFormatParser.ParseError {
            throw path.error(error.message)
        }
    }

    /// A flat object of string values (nested objects and non-string values are not supported).
    static func jsonFormat(_ json: Google_Protobuf_Struct, at path: FieldPath) throws -> AccessLogFormat {
        var fields: [(key: String, value: [AccessLogPiece])] = []
        for key in json.fields.keys.sorted() {
            guard case .stringValue(let text)? = json.fields[key]?.kind else {
                throw (path / key).error("only string values are supported in json_format")
            }
            do {
                fields.append((key, try AccessLogFormatParser.parse(text)))
            } catch let error as AccessLogFormatParser.ParseError {
                throw (path / key).error(error.message)
            }
        }
        return .json(fields)
    }

    static func filter(_ filter: Envoy_Config_Accesslog_V3_AccessLogFilter, at path: FieldPath) throws -> AccessLogFilter {
        switch filter.filterSpecifier {
        case .statusCodeFilter(let status)?:
            let (op, value) = try comparison(status.comparison, at: path / "status_code_filter" / "comparison")
            return .statusCode(op, value)
        case .durationFilter(let duration)?:
            let (op, value) = try comparison(duration.comparison, at: path / "duration_filter" / "comparison")
            return .duration(op, value)
        case .notHealthCheckFilter?:
            return .notHealthCheck
        case .responseFlagFilter(let flags)?:
            let known = Set(ResponseFlag.allCases.map(\.rawValue))
            for (index, flag) in flags.flags.enumerated() where !known.contains(flag) {
                throw (path / "response_flag_filter" / "flags" / index).error("unknown or unsupported response flag \(flag)")
            }
            return .responseFlags(Set(flags.flags))
        case .andFilter(let and)?:
            return .and(try and.filters.enumerated().map { try self.filter($1, at: path / "and_filter" / "filters" / $0) })
        case .orFilter(let or)?:
            return .or(try or.filters.enumerated().map { try self.filter($1, at: path / "or_filter" / "filters" / $0) })
        default:
            throw path.error("unsupported access log filter (status_code_filter, duration_filter, response_flag_filter, not_health_check_filter, and_filter, or_filter)")
        }
    }

    static func comparison(_ comparison: Envoy_Config_Accesslog_V3_ComparisonFilter, at path: FieldPath) throws -> (AccessLogFilter.Comparison, Int) {
        let op: AccessLogFilter.Comparison
        switch comparison.op {
        case .eq: op = .equal
        case .ge: op = .greaterOrEqual
        case .le: op = .lessOrEqual
        default: op = .equal
        }
        // `value.runtime_key` is accepted; Skiff has no runtime, so the default value applies.
        return (op, Int(comparison.value.defaultValue))
    }
}

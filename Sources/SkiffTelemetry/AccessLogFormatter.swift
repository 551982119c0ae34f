#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import SkiffCore

/// Renders access log lines from a record, as Envoy's substitution formatter does: an operator
/// with no value prints `-` in text; in `json_format` it is `null`, and numeric operators
/// (`%RESPONSE_CODE%`, `%BYTES_SENT%`, `%DURATION%`, ...) are JSON numbers.
public enum AccessLogFormatter {
    public static func line(_ format: AccessLogFormat, _ record: AccessLogRecord) -> String {
        switch format {
        case .text(let pieces):
            var out = ""
            out.reserveCapacity(256)
            for piece in pieces {
                switch piece {
                case .text(let text): out += text
                case .command(let command): out += value(command, record) ?? "-"
                }
            }
            return out
        case .json(let fields):
            var out = "{"
            for (index, field) in fields.enumerated() {
                if index > 0 { out += "," }
                out += quoted(field.key) + ":" + jsonValue(field.value, record)
            }
            return out + "}\n"
        }
    }

    /// Room a text line is formatted in, in place, in the batch buffer; a longer line (a long
    /// header value) is written again the slow way.
    static let lineWindow = 4096

    /// Appends the line to `buffer`: a text format is formatted straight into the buffer's
    /// memory (`LineCursor`), numbers and the default start time as digits, so a line costs no
    /// string of its own (a JSON format goes through `line`).
    public static func write(_ format: AccessLogFormat, _ record: AccessLogRecord, into buffer: inout ByteBuffer) {
        guard case .text(let pieces) = format else {
            buffer.writeString(line(format, record))
            return
        }
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: lineWindow) { memory in
            var cursor = LineCursor(UnsafeMutableRawBufferPointer(rebasing: memory.prefix(lineWindow)))
            write(pieces, record, into: &cursor)
            return cursor.overflowed ? 0 : cursor.count
        }
        if written == 0 {
            buffer.writeString(line(format, record))
        }
    }

    static func write(_ pieces: [AccessLogPiece], _ record: AccessLogRecord, into out: inout LineCursor) {
        for index in pieces.indices {
            switch pieces[index] {
            case .text(let text):
                out.append(text)
            case .command(let command):
                switch command {
                case .responseCode: out.appendDecimal(UInt64(max(record.responseCode, 0)))
                case .bytesReceived: out.appendDecimal(UInt64(max(record.bytesReceived, 0)))
                case .bytesSent: out.appendDecimal(UInt64(max(record.bytesSent, 0)))
                case .duration:
                    if let nanos = record.durationNanos { out.appendDecimal(nanos / 1_000_000) } else { out.append(byte: UInt8(ascii: "-")) }
                case .startTime(nil):
                    writeDefaultTime(record.startTimeNanos, into: &out)
                case .responseFlags where record.responseFlags.isEmpty:
                    out.append(byte: UInt8(ascii: "-"))
                default:
                    if let value = value(command, record) { out.append(value) } else { out.append(byte: UInt8(ascii: "-")) }
                }
            }
        }
    }

    /// `%START_TIME%` in Envoy's default form (`2026-11-22T17:00:00.123Z`).
    static func writeDefaultTime(_ nanos: Int64, into out: inout LineCursor) {
        out.append(TimeCache.secondPrefix(nanos))
        let millis = Int(nanos % 1_000_000_000) / 1_000_000
        out.append(byte: UInt8(ascii: "0") + UInt8(millis / 100))
        out.append(byte: UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        out.append(byte: UInt8(ascii: "0") + UInt8(millis % 10))
        out.append(byte: UInt8(ascii: "Z"))
    }

    /// A JSON field: a lone operator keeps its type (number, or null when unavailable); text
    /// mixing operators and literals is a string.
    static func jsonValue(_ pieces: [AccessLogPiece], _ record: AccessLogRecord) -> String {
        if pieces.count == 1, case .command(let command) = pieces[0] {
            guard let value = value(command, record) else { return "null" }
            return command.isNumeric ? value : quoted(value)
        }
        var text = ""
        for piece in pieces {
            switch piece {
            case .text(let literal): text += literal
            case .command(let command): text += value(command, record) ?? "-"
            }
        }
        return quoted(text)
    }

    /// The operator's value; nil when not available.
    static func value(_ command: AccessLogCommand, _ r: AccessLogRecord) -> String? {
        switch command {
        case .startTime(let format):
            guard let format else { return defaultTime(r.startTimeNanos) }
            return formatTime(r.startTimeNanos, format)
        // Plain loops, not `lazy.compactMap`: its escaping closure would box a copy of the
        // whole record for every operator of every line.
        case .requestHeader(let names, let max):
            for name in names { if let value = r.requestHeader(name) { return truncate(value, max) } }
            return nil
        case .responseHeader(let names, let max):
            for name in names { if let value = r.responseHeader(name) { return truncate(value, max) } }
            return nil
        case .responseTrailer(let names, let max):
            guard let trailers = r.responseTrailers else { return nil }
            for name in names { if let value = trailers.first(name: name) { return truncate(value, max) } }
            return nil
        case .responseCode: return String(r.responseCode)
        case .responseCodeDetails: return r.responseCodeDetails
        case .responseFlags:
            // `-` when none, in JSON too (a string, never null), as Envoy prints it.
            // In the order they were set, once each (Envoy keeps a de-duplicated list).
            let flags = r.responseFlags.filter { $0 != .none }
            if flags.isEmpty { return "-" }
            var seen = Set<ResponseFlag>()
            return flags.filter { seen.insert($0).inserted }.map(\.rawValue).joined(separator: ",")
        case .bytesReceived: return String(r.bytesReceived)
        case .bytesSent: return String(r.bytesSent)
        case .duration: return r.durationNanos.map { String($0 / 1_000_000) }
        case .requestDuration: return r.requestDurationNanos.map { String($0 / 1_000_000) }
        case .responseDuration: return r.responseDurationNanos.map { String($0 / 1_000_000) }
        case .upstreamHost: return r.upstreamHost
        case .upstreamCluster: return r.upstreamCluster
        case .upstreamLocalAddress: return r.upstreamLocalAddress
        case .upstreamTransportFailureReason:
            // Envoy writes the reason with `_` for spaces.
            return r.upstreamTransportFailureReason.map { String($0.map { $0 == " " ? "_" : $0 }) }
        case .upstreamRequestAttemptCount: return String(r.upstreamAttempts)
        case .downstreamRemoteAddress: return address(r.downstreamRemoteIP, r.downstreamRemotePort)
        case .downstreamRemoteAddressWithoutPort: return r.downstreamRemoteIP
        case .downstreamLocalAddress: return address(r.downstreamLocalIP, r.downstreamLocalPort)
        case .downstreamLocalAddressWithoutPort: return r.downstreamLocalIP
        case .downstreamPeerURISAN: return r.peerURISAN
        case .downstreamLocalURISAN: return r.localURISAN
        case .requestedServerName: return r.requestedServerName
        case .protocol: return r.protocolName
        case .routeName: return r.routeName
        case .connectionID: return String(r.connectionID)
        case .hostname: return hostname
        }
    }

    public static func address(_ ip: String?, _ port: Int?) -> String? {
        guard let ip else { return nil }
        guard let port else { return ip }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    static func truncate(_ value: String, _ max: Int?) -> String {
        guard let max, value.count > max else { return value }
        return String(value.prefix(max))
    }

    static let hostname: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "-" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// Envoy's default `%START_TIME%` (`2024-01-01T00:00:00.000Z`): the part up to the second is
    /// formatted once per second per thread, the milliseconds appended.
    static func defaultTime(_ nanos: Int64) -> String {
        let millis = Int(nanos % 1_000_000_000) / 1_000_000
        let digits = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : String(millis)
        return TimeCache.secondPrefix(nanos) + digits + "Z"
    }

    /// Per-thread: access log lines are made on the workers' event loops.
    final class TimeCache: @unchecked Sendable {  // One per thread, never shared.
        var second: Int64 = -1
        var prefix = ""
        private static let key = ThreadSpecificVariable<TimeCache>()
        static var current: TimeCache {
            if let cache = key.currentValue { return cache }
            let cache = TimeCache()
            key.currentValue = cache
            return cache
        }

        /// `2024-01-01T00:00:00.` for the second `nanos` falls in, formatted once per second.
        static func secondPrefix(_ nanos: Int64) -> String {
            let second = nanos / 1_000_000_000
            let cache = current
            if cache.second != second {
                cache.second = second
                cache.prefix = formatTime(nanos, "%Y-%m-%dT%H:%M:%S.")
            }
            return cache.prefix
        }
    }

    /// strftime-style UTC time with Envoy's fractional-second extensions: `%f` / `%3f` / `%6f` /
    /// `%9f` (fraction digits), `%E3S` / `%E6S` (seconds with a fraction), `%s` (epoch seconds).
    static func formatTime(_ nanos: Int64, _ format: String) -> String {
        var seconds = time_t(nanos / 1_000_000_000)
        let fraction = Int(nanos % 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        func digits(_ count: Int) -> String {
            let nine = pad(Int32(fraction), 9)
            return String(nine.prefix(count))
        }
        var out = ""
        var index = format.startIndex
        while index < format.endIndex {
            let char = format[index]
            index = format.index(after: index)
            guard char == "%", index < format.endIndex else {
                out.append(char)
                continue
            }
            var spec = format[index]
            index = format.index(after: index)
            var width = 9
            var extended = false
            if spec == "E", index < format.endIndex {
                extended = true
                spec = format[index]
                index = format.index(after: index)
            }
            if let digit = spec.wholeNumberValue, index < format.endIndex {
                width = digit
                spec = format[index]
                index = format.index(after: index)
            }
            switch spec {
            case "Y": out += pad(parts.tm_year + 1900, 4)
            case "m": out += pad(parts.tm_mon + 1, 2)
            case "d": out += pad(parts.tm_mday, 2)
            case "H": out += pad(parts.tm_hour, 2)
            case "M": out += pad(parts.tm_min, 2)
            case "S": out += pad(parts.tm_sec, 2) + (extended ? "." + digits(width) : "")
            case "f": out += digits(width)
            case "s": out += String(nanos / 1_000_000_000)
            case "z": out += "+0000"
            case "Z": out += "UTC"
            case "j": out += pad(parts.tm_yday + 1, 3)
            case "%": out += "%"
            default: out += "%" + String(spec)
            }
        }
        return out
    }

    static func quoted(_ text: String) -> String {
        "\"" + jsonEscape(text) + "\""
    }
}

extension AccessLogFilter {
    /// Whether a request with this record is logged.
    public func admits(_ record: AccessLogRecord) -> Bool {
        switch self {
        case .statusCode(let comparison, let value):
            return comparison.holds(record.responseCode, value)
        case .duration(let comparison, let value):
            return comparison.holds(Int((record.durationNanos ?? 0) / 1_000_000), value)
        case .notHealthCheck:
            return true
        case .responseFlags(let wanted):
            let set = record.responseFlags.filter { $0 != .none }
            return wanted.isEmpty ? !set.isEmpty : set.contains { wanted.contains($0.rawValue) }
        case .and(let all):
            return all.allSatisfy { $0.admits(record) }
        case .or(let any):
            return any.contains { $0.admits(record) }
        }
    }
}

extension AccessLogFilter.Comparison {
    func holds(_ actual: Int, _ value: Int) -> Bool {
        switch self {
        case .equal: return actual == value
        case .greaterOrEqual: return actual >= value
        case .lessOrEqual: return actual <= value
        }
    }
}

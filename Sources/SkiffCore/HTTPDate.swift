#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `date` response header (RFC 9110 IMF-fixdate), formatted at most once per second.
///
/// Envoy stamps every response with `date`; formatting a date per response would cost more than
/// the rest of the header work, so each worker keeps one of these and reuses the string.
public struct HTTPDateCache {
    private var second: Int = -1
    private var cached: String = ""

    public init() {}

    public mutating func current() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let now = Int(ts.tv_sec)
        if now != second {
            second = now
            cached = HTTPDateCache.format(epochSeconds: now)
        }
        return cached
    }

    static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats seconds since the epoch as `Sun, 06 Nov 1994 08:49:37 GMT`.
    public static func format(epochSeconds: Int) -> String {
        let (year, month, day) = civilDate(epochSeconds: epochSeconds)
        let secondsOfDay = epochSeconds % 86_400
        return "\(days[(epochSeconds / 86_400) % 7]), \(two(day)) \(months[month - 1]) \(year) "
            + "\(two(secondsOfDay / 3600)):\(two(secondsOfDay / 60 % 60)):\(two(secondsOfDay % 60)) GMT"
    }

    /// Formats seconds since the epoch as RFC 3339 (`1994-11-06T08:49:37Z`).
    public static func iso8601(epochSeconds: Int) -> String {
        let (year, month, day) = civilDate(epochSeconds: epochSeconds)
        let rest = epochSeconds % 86_400
        return "\(year)-\(two(month))-\(two(day))T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))Z"
    }

    /// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
    static func civilDate(epochSeconds: Int) -> (Int, Int, Int) {
        let z = epochSeconds / 86_400 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

/// Where time comes from.
///
/// State machines that make timing decisions (timeouts, backoff, ejection) take a clock instead of
/// reading the system time, so tests drive them in milliseconds of test time. On an event loop,
/// timers themselves are NIO scheduled tasks; the clock only answers "what time is it now".
public protocol SkiffClock: Sendable {
    /// Monotonic nanoseconds since an arbitrary origin.
    func nowNanoseconds() -> UInt64
}

/// The real monotonic clock.
public struct SystemClock: SkiffClock {
    public init() {}

    public func nowNanoseconds() -> UInt64 {
        ContinuousClockReading.now()
    }
}

/// Wall-clock seconds since the epoch, for `/server_info` and config-dump timestamps.
public func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The monotonic clock read directly (vDSO `clock_gettime`), for cheap activity timestamps on
/// the data path.
public enum ContinuousClockReading {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

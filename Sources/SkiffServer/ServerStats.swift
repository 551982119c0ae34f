#if canImport(Glibc)
import Glibc
#endif
import CSkiffMemory
import SkiffTelemetry

/// `server.*` beyond liveness: the process's memory (from glibc's allocator and the kernel's
/// resident set), its open downstream connections (live; Envoy refreshes it at its 5 s stats
/// flush), and the values Envoy lists for features a single Skiff process does not have (hot
/// restart — as Envoy run with `--disable-hot-restart`, so no `hot_restart_generation` —,
/// runtime assertions, OCSP, FIPS).
enum ServerStats {
    static func samples(totalConnections: Int64) -> [StatSample] {
        func counter(_ name: String, _ value: Int64) -> StatSample { .processCounter(.server, name, value) }
        func gauge(_ name: String, _ value: Int64) -> StatSample { .processGauge(.server, name, value) }
        let memory = ProcessMemory.read()
        return [
            gauge("memory_allocated", memory.allocated), gauge("memory_heap_size", memory.heap),
            gauge("memory_physical_size", memory.physical), gauge("total_connections", totalConnections),
            gauge("parent_connections", 0), gauge("hot_restart_epoch", 0),
            gauge("seconds_until_first_ocsp_response_expiring", 0), gauge("compilation_settings.fips_mode", 0),
            counter("debug_assertion_failures", 0), counter("envoy_bug_failures", 0), counter("envoy_notifications", 0),
            counter("dynamic_unknown_fields", 0), counter("static_unknown_fields", 0), counter("wip_protos", 0),
            counter("dropped_stat_flushes", 0),
        ]
    }
}

/// What Envoy reports as `server.memory_*`, measured for a glibc process: bytes handed out by
/// malloc (`memory_allocated`), what malloc holds from the system (`memory_heap_size`), and the
/// resident set (`memory_physical_size`).
enum ProcessMemory {
    static func read() -> (allocated: Int64, heap: Int64, physical: Int64) {
        var allocated = 0, heap = 0
        skiff_malloc_totals(&allocated, &heap)
        return (Int64(allocated), Int64(heap), residentBytes() ?? Int64(heap))
    }

    /// `/proc/self/statm`'s resident pages, in bytes.
    static func residentBytes() -> Int64? {
        #if canImport(Glibc)
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return nil }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return nil
        #endif
    }
}

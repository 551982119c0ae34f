#if canImport(Glibc)
import Glibc

/// Gives back memory that only startup used.
///
/// Loading a bootstrap runs code nothing else runs: YAML and JSON parsing, protobuf decoding of
/// Envoy's API (tens of thousands of generated lines), translation and validation. Their code and
/// metadata pages stay resident after startup, and a sidecar runs thousands of times per fleet.
/// After startup Skiff asks the kernel to reclaim its clean, file-backed, read-only and executable
/// pages (`MADV_PAGEOUT`, Linux 5.4+); whatever the data path uses faults back in on first use,
/// so the resident set becomes what serving needs. Heap pages freed by startup go back with
/// `malloc_trim`. Dirty and anonymous pages are untouched, so this never changes behaviour; on
/// kernels without `MADV_PAGEOUT` the call fails and nothing happens.
enum StartupMemoryTrim {
    static let madvPageout: Int32 = 21

    static func run() {
        _ = skiff_malloc_trim(0)
        guard let maps = fopen("/proc/self/maps", "r") else { return }
        defer { fclose(maps) }
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), maps) != nil {
            let text = String(cString: line)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1].hasPrefix("r"), !fields[1].contains("w"), fields[5].hasPrefix("/") else {
                continue
            }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start else {
                continue
            }
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), madvPageout)
        }
    }
}
/// glibc's `malloc_trim`, which the Glibc module does not export.
@_silgen_name("malloc_trim")
private func skiff_malloc_trim(_ pad: Int) -> Int32
#else
enum StartupMemoryTrim {
    static func run() {}
}
#endif

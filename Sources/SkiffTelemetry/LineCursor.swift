/// Writes one access log line straight into memory the batch buffer lent (`ByteBuffer`'s
/// `writeWithUnsafeMutableBytes`): a bounds check and a `memcpy` per piece, where a
/// `ByteBuffer.writeString` per piece costs an exclusivity check, a uniqueness check and a
/// capacity check each (measured under callgrind: ~250 instructions per piece, 26 pieces in
/// Envoy's default format).
///
/// When a line does not fit, the cursor stops writing and says so (`overflowed`); the caller
/// then writes that line the slow way.
struct LineCursor {
    private let memory: UnsafeMutableRawBufferPointer
    private(set) var count = 0
    private(set) var overflowed = false

    init(_ memory: UnsafeMutableRawBufferPointer) {
        self.memory = memory
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        guard !overflowed, bytes.count <= memory.count - count else {
            overflowed = true
            return
        }
        (memory.baseAddress! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(_ text: String) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if done == nil {
            for byte in text.utf8 { append(byte: byte) }
        }
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(byte: UInt8) {
        guard !overflowed, count < memory.count else {
            overflowed = true
            return
        }
        memory[count] = byte
        count += 1
    }

    /// Decimal digits without a string.
    mutating func appendDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for 20 digits
        withUnsafeMutableBytes(of: &digits) { raw in
            var remaining = value
            var index = raw.count
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            } while remaining > 0
            append(UnsafeRawBufferPointer(rebasing: raw[index...]))
        }
    }
}

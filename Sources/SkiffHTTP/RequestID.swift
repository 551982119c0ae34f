import SkiffCore

/// Generates `x-request-id` values: random (version 4) UUIDs in their canonical text form,
/// written straight into the string's storage (one allocation per id).
enum RequestID {
    private static let hex: StaticString = "0123456789abcdef"

    static func make(_ random: inout FastRandom) -> String {
        let high = random.next()
        let low = random.next()
        return String(unsafeUninitializedCapacity: 36) { out in
            var written = 0
            for index in 0..<16 {
                var byte = UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> (56 - 8 * UInt64(index % 8)))
                if index == 6 { byte = (byte & 0x0F) | 0x40 }
                if index == 8 { byte = (byte & 0x3F) | 0x80 }
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[written] = UInt8(ascii: "-")
                    written += 1
                }
                hex.withUTF8Buffer { digits in
                    out[written] = digits[Int(byte >> 4)]
                    out[written + 1] = digits[Int(byte & 0x0F)]
                }
                written += 2
            }
            return written
        }
    }
}

import SwiftProtobuf

/// A stable 64-bit hash (FNV-1a) of a message's deterministic encoding: two filter chains with
/// the same fingerprint are the same configuration, so a listener update leaves their
/// connections alone.
enum Fingerprint {
    static func of(_ message: some SwiftProtobuf.Message) -> UInt64 {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        guard let bytes: [UInt8] = try? message.serializedBytes(options: options) else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

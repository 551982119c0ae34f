import Testing
@testable import SkiffTLS

/// The ClientHello parser behind `tls_inspector`, on hand-built records.
struct ClientHelloParserTests {
    /// A TLS 1.2-style ClientHello with SNI and ALPN extensions.
    static func hello(serverName: String?, alpn: [String]) -> [UInt8] {
        var extensions: [UInt8] = []
        if let serverName {
            let name = Array(serverName.utf8)
            let entry: [UInt8] = [0] + u16(name.count) + name
            let list = u16(entry.count) + entry
            extensions += u16(0x0000) + u16(list.count) + list
        }
        if !alpn.isEmpty {
            let entries = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            let list = u16(entries.count) + entries
            extensions += u16(0x0010) + u16(list.count) + list
        }
        var body: [UInt8] = [0x03, 0x03] + Array(repeating: 7, count: 32)
        body += [0]  // no session id
        body += u16(2) + [0x13, 0x01]  // one cipher suite
        body += [1, 0]  // null compression
        body += u16(extensions.count) + extensions
        let handshake: [UInt8] = [0x01, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        return [0x16, 0x03, 0x01] + u16(handshake.count) + handshake
    }

    static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    @Test func readsServerNameAndALPN() {
        let bytes = Self.hello(serverName: "Backend.Mesh.Local", alpn: ["istio-peer-exchange", "h2", "http/1.1"])
        #expect(ClientHelloParser.parse(bytes) == .clientHello(serverName: "backend.mesh.local", alpn: ["istio-peer-exchange", "h2", "http/1.1"]))
        #expect(ClientHelloParser.parse(Self.hello(serverName: nil, alpn: [])) == .clientHello(serverName: nil, alpn: []))
    }

    @Test func waitsForTheWholeHelloAndSpotsPlaintextAtOnce() {
        let bytes = Self.hello(serverName: "a.example", alpn: ["h2"])
        for cut in [1, 4, 5, 20, bytes.count - 1] {
            #expect(ClientHelloParser.parse(bytes.prefix(cut)) == .needMore, "cut at \(cut)")
        }
        #expect(ClientHelloParser.parse(Array("GET / HTTP/1.1\r\n".utf8)) == .notTLS)
        #expect(ClientHelloParser.parse(Array("PRI * HTTP/2.0".utf8)) == .notTLS)
        #expect(ClientHelloParser.parse([UInt8]()) == .needMore)
    }

    @Test func aHelloSplitAcrossRecordsIsReassembled() {
        let whole = Self.hello(serverName: "split.example", alpn: ["h2"])
        let handshake = Array(whole.dropFirst(5))
        let first = Array(handshake.prefix(30)), second = Array(handshake.dropFirst(30))
        let records = [0x16, 0x03, 0x01] + Self.u16(first.count) + first + [0x16, 0x03, 0x01] + Self.u16(second.count) + second
        #expect(ClientHelloParser.parse(records) == .clientHello(serverName: "split.example", alpn: ["h2"]))
    }

    @Test func malformedOrHugeHellosAreTLSWithNothingKnown() {
        var broken = Self.hello(serverName: "x.example", alpn: [])
        broken[5] = 0x02  // a ServerHello, not a ClientHello
        #expect(ClientHelloParser.parse(broken) == .unreadable)
        // A handshake message that says it is 64 KiB long.
        let huge: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00]
        #expect(ClientHelloParser.parse(huge) == .unreadable)
    }
}

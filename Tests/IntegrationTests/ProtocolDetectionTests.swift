import Foundation
import NIOCore
import NIOPosix
import Testing

/// `envoy.filters.listener.http_inspector` on one inbound port: HTTP/1.1 and prior-knowledge
/// HTTP/2 go to the HTTP connection manager, other bytes to a TCP proxy, and a client that sends
/// nothing (a server-speaks-first protocol) falls through to the TCP proxy after
/// `listener_filters_timeout` rather than stalling, and is counted.
@Suite(.serialized)
struct ProtocolDetectionTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static func bootstrap(appPort: Int, tcpPort: Int, timeout: String) -> String {
        let hcm = TLSTests.hcm
        return """
            admin:
              address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            static_resources:
              listeners:
              - name: main
                stat_prefix: inbound_port
                address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
                listener_filters_timeout: \(timeout)
                continue_on_listener_filters_timeout: true
                listener_filters:
                - name: envoy.filters.listener.http_inspector
                  typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector }
                filter_chains:
                - filter_chain_match: { application_protocols: ["http/1.1", "http/1.0", "h2c"] }
                  filters:
            \(Bootstrap.indented(hcm, 6))
                - filters:
                  - name: envoy.filters.network.tcp_proxy
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
                      stat_prefix: inbound_tcp
                      cluster: tcp
              clusters:
            \(Bootstrap.indented(Bootstrap.cluster("app", ports: [appPort]), 2))
            \(Bootstrap.indented(Bootstrap.cluster("tcp", ports: [tcpPort]), 2))

            """
    }

    @Test func http1HTTP2AndRawTCPShareOnePort() async throws {
        let app = try await TestUpstream.start("app", group: group)
        let echo = try await TCPEchoServer.start(group: group)
        defer { Task { await app.close(); await echo.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(appPort: app.port, tcpPort: echo.port, timeout: "5s"))

        let h1 = try await proxy.client()
        let response = try await h1.get("/one")
        #expect(response.status == 200 && response.body == "hello from app\n")
        await h1.close()

        let h2 = try await H2Client.connect(port: proxy.port(), group: group)
        let viaH2 = try await h2.request(.GET, "/two")
        #expect(viaH2.status == 200 && viaH2.body == "hello from app\n")
        await h2.close()

        let raw = try await proxy.client()
        try await raw.send("\u{16}\u{03}not http at all\n")
        try await raw.shutdownOutput()
        let echoed = try await raw.readToEnd()
        #expect(String(buffer: echoed) == "\u{16}\u{03}not http at all\n")
        await raw.close()

        #expect(app.requests.map(\.uri) == ["/one", "/two"])
        #expect(try await XDSTestsStat.value(proxy, "http.inbound_http.downstream_rq_http1_total") == 1)
        #expect(try await XDSTestsStat.value(proxy, "http.inbound_http.downstream_rq_http2_total") == 1)
        #expect(try await XDSTestsStat.value(proxy, "tcp.inbound_tcp.downstream_cx_total") == 1)
        await proxy.stop()
    }

    /// A server-first protocol: the client waits for the server's greeting. Skiff gives up
    /// sniffing at `listener_filters_timeout` (0.2 s here) and proxies it as TCP.
    @Test func aSilentClientFallsThroughToTCPAfterTheTimeout() async throws {
        let app = try await TestUpstream.start("app", group: group)
        let greeter = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Greeter())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { Task { await app.close(); try? await greeter.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(
            appPort: app.port, tcpPort: greeter.localAddress!.port!, timeout: "0.2s"
        ))
        let client = try await proxy.client()
        let started = ContinuousClock.now
        let greeting = try await client.readToEnd(limit: 11)
        let waited = ContinuousClock.now - started
        #expect(String(buffer: greeting).hasPrefix("220 ready\r\n"))
        #expect(waited < .seconds(2), "stalled \(waited)")
        #expect(waited >= .milliseconds(150))
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_pre_cx_timeout") == 1)
        await client.close()
        await proxy.stop()
    }

    /// A connection still being sniffed is in `downstream_pre_cx_active`; a client that leaves
    /// before saying enough is `downstream_listener_filter_remote_close` (Envoy's names).
    @Test func connectionsInInspectionAreCountedAndARemoteCloseToo() async throws {
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(appPort: app.port, tcpPort: app.port, timeout: "5s"))
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_pre_cx_active") == 0)
        let silent = try await proxy.client()
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_pre_cx_active") == 1)
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_listener_filter_remote_close") == 0)
        await silent.close()
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_pre_cx_active") == 0)
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_listener_filter_remote_close") == 1)
        // A client that speaks leaves inspection without counting as a remote close.
        let client = try await proxy.client()
        #expect(try await client.get("/").status == 200)
        await client.close()
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_pre_cx_active") == 0)
        #expect(try await XDSTestsStat.value(proxy, "listener.inbound_port.downstream_listener_filter_remote_close") == 1)
        await proxy.stop()
    }
}

/// Speaks first, as SMTP and MySQL servers do.
private final class Greeter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "220 ready\r\n")), promise: nil)
        context.fireChannelActive()
    }
}

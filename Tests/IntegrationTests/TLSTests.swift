import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// Mutual TLS with certificates minted for each test: termination with client-certificate and
/// SAN checks, origination with server SAN checks, two Skiffs chained over mTLS, PERMISSIVE and
/// STRICT on one port via `tls_inspector`, and certificate rotation under traffic.
@Suite(.serialized)
struct TLSTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static let hcm = """
        - name: envoy.filters.network.http_connection_manager
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
            stat_prefix: inbound_http
            route_config:
              virtual_hosts:
              - name: all
                domains: ["*"]
                routes:
                - match: { prefix: "/" }
                  route: { cluster: app }
            http_filters:
            - name: envoy.filters.http.router
              typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
        """

    /// A downstream TLS transport socket (flush-left YAML).
    static func downstreamTLS(_ common: String, requireClient: Bool) -> String {
        """
        transport_socket:
          name: envoy.transport_sockets.tls
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
            require_client_certificate: \(requireClient)
        \(Bootstrap.indented(common, 4))
        """
    }

    /// An inbound sidecar: listener `main` (stat prefix `inbound`) with `chains`, to cluster `app`.
    static func inbound(chains: [String], appPort: Int, inspector: Bool = false) -> String {
        let listenerFilters = inspector ? """
            listener_filters:
            - name: envoy.filters.listener.tls_inspector
              typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
            """ : ""
        return """
            admin:
              address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            static_resources:
              listeners:
              - name: main
                stat_prefix: inbound
                address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            \(Bootstrap.indented(listenerFilters, 4))
                filter_chains:
            \(Bootstrap.indented(chains.joined(separator: "\n"), 4))
              clusters:
            \(Bootstrap.indented(Bootstrap.cluster("app", ports: [appPort]), 2))

            """
    }

    /// A filter chain (flush-left list item): optional match and TLS, then the HTTP manager.
    static func chain(match: String? = nil, tls: String? = nil) -> String {
        var lines = ["- filters:", Bootstrap.indented(hcm, 2)]
        if let match { lines.append("  filter_chain_match: \(match)") }
        if let tls { lines.append(Bootstrap.indented(tls, 2)) }
        return lines.joined(separator: "\n")
    }

    /// A CA, the backend's and the frontend's SPIFFE certificates, and a plaintext app.
    func fixture() async throws -> (TestPKI, TestPKI.Files, TestPKI.Files, TestUpstream) {
        let pki = try TestPKI()
        let server = try pki.issue("backend", spiffe: TestPKI.backend)
        let frontend = try pki.issue("frontend", spiffe: TestPKI.frontend)
        return (pki, server, frontend, try await TestUpstream.start("app", group: group))
    }

    func stat(_ proxy: ProxyHarness, _ name: String) async throws -> Int {
        try await XDSTestsStat.value(proxy, name) ?? 0
    }

    /// One request on a new TLS connection; nil when the connection was refused.
    func get(_ port: Int, _ context: NIOSSLContext?) async -> RawClient.Response? {
        guard let client = try? await RawClient(port: port, group: group, tls: context, serverName: "backend.default.svc") else { return nil }
        let response = try? await client.get("/")
        await client.close()
        return response
    }

    @Test func aClientNeedsACertificateWithTheRightSAN() async throws {
        let (pki, server, frontend, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let intruder = try pki.issue("intruder", spiffe: "spiffe://cluster.local/ns/default/sa/intruder")
        let tls = Self.downstreamTLS(pki.commonTLS(server, sans: [TestPKI.frontend]), requireClient: true)
        let proxy = try await ProxyHarness.start(Self.inbound(chains: [Self.chain(tls: tls)], appPort: app.port))

        let allowed = await get(proxy.port(), try pki.clientContext(frontend))
        #expect(allowed?.status == 200 && allowed?.body == "hello from app\n")
        #expect(await get(proxy.port(), try pki.clientContext()) == nil, "no client certificate")
        #expect(await get(proxy.port(), try pki.clientContext(intruder)) == nil, "wrong SAN")
        #expect(await get(proxy.port(), nil) == nil, "plaintext on a TLS port")
        #expect(app.requests.count == 1)
        #expect(try await stat(proxy, "listener.inbound.ssl.handshake") == 1)
        #expect(try await stat(proxy, "listener.inbound.ssl.fail_verify_no_cert") == 1)
        #expect(try await stat(proxy, "listener.inbound.ssl.fail_verify_san") == 1)
        #expect(try await stat(proxy, "listener.inbound.ssl.connection_error") == 1)
        // Every connection manager connection here is over TLS (Envoy's `downstream_cx_ssl_*`).
        let connections = try await stat(proxy, "http.inbound_http.downstream_cx_total")
        #expect(connections >= 1)
        #expect(try await stat(proxy, "http.inbound_http.downstream_cx_ssl_total") == connections)
        // `/certs` in Envoy's shape, and the expiry gauge (the leaf expires in a day).
        let certs = try await proxy.admin("/certs").body
        #expect(certs.contains("\"serial_number\": \"\(server.serial)\"") && certs.contains("\"path\": \"\(server.certificate)\""))
        #expect(certs.contains("\"uri\": \"\(TestPKI.backend)\"") && certs.contains("\"path\": \"\(pki.caPath)\""))
        #expect(try await stat(proxy, "server.days_until_first_cert_expiring") == 0, "the leaf expires within 20 h: 0 whole days, as Envoy says")
        await proxy.stop()
    }

    /// outbound Skiff → mTLS (SPIFFE SANs checked both ways) → inbound Skiff → app.
    @Test func twoSkiffsChainedOverMutualTLS() async throws {
        let (pki, server, frontend, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let inboundTLS = Self.downstreamTLS(pki.commonTLS(server, sans: [TestPKI.frontend]), requireClient: true)
        let inbound = try await ProxyHarness.start(Self.inbound(chains: [Self.chain(tls: inboundTLS)], appPort: app.port))

        func outbound(expecting san: String) -> String {
            let upstreamTLS = """
                transport_socket:
                  name: envoy.transport_sockets.tls
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
                    sni: backend.default.svc
                \(Bootstrap.indented(pki.commonTLS(frontend, sans: [san]), 4))
                """
            return Bootstrap.http(
                routes: """
                    - match: { prefix: "/" }
                      route: { cluster: backend }
                    """,
                clusters: [Bootstrap.cluster("backend", ports: [inbound.port()], extra: upstreamTLS)]
            )
        }
        let good = try await ProxyHarness.start(outbound(expecting: TestPKI.backend))
        let client = try await good.client()
        for _ in 0..<3 {
            let response = try await client.get("/")
            #expect(response.status == 200 && response.body == "hello from app\n")
        }
        await client.close()
        #expect(app.requests.count == 3)
        #expect(try await stat(good, "cluster.backend.ssl.handshake") == 1, "one upstream connection, kept alive")
        await good.stop()

        let wrong = try await ProxyHarness.start(outbound(expecting: "spiffe://cluster.local/ns/default/sa/nobody"))
        let refused = try await wrong.client()
        let response = try await refused.get("/")
        #expect(response.status == 503)
        #expect(response.body.hasSuffix("reset reason: remote connection failure"), "as Envoy words a failed upstream handshake")
        #expect(try await stat(wrong, "cluster.backend.ssl.fail_verify_san") == 1)
        #expect(app.requests.count == 3)
        await refused.close()
        await wrong.stop()
        await inbound.stop()
    }

    /// `tls_inspector` picks the chain by what the client sends: PERMISSIVE serves mTLS and
    /// plaintext on one port; STRICT (no plaintext chain) refuses plaintext.
    @Test func permissiveServesBothAndStrictRefusesPlaintext() async throws {
        let (pki, server, frontend, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let mtls = Self.chain(
            match: "{ transport_protocol: tls }",
            tls: Self.downstreamTLS(pki.commonTLS(server, alpn: ["h2", "http/1.1"]), requireClient: true)
        )
        let plaintext = Self.chain(match: "{ transport_protocol: raw_buffer }")

        let permissive = try await ProxyHarness.start(Self.inbound(chains: [mtls, plaintext], appPort: app.port, inspector: true))
        #expect(try await stat(permissive, "server.days_until_first_cert_expiring") == 0)
        #expect(await get(permissive.port(), try pki.clientContext(frontend, alpn: ["http/1.1"]))?.status == 200)
        let plain = try await permissive.client()
        #expect(try await plain.get("/").status == 200)
        await plain.close()
        #expect(app.requests.count == 2)
        await permissive.stop()

        let strict = try await ProxyHarness.start(Self.inbound(chains: [mtls], appPort: app.port, inspector: true))
        #expect(await get(strict.port(), try pki.clientContext(frontend))?.status == 200)
        let refused = try await strict.client()
        await #expect(throws: (any Error).self) { _ = try await refused.get("/") }
        await refused.close()
        #expect(try await stat(strict, "listener.inbound.no_filter_chain_match") == 1)
        #expect(app.requests.count == 3)
        await strict.stop()
    }

    /// New key and certificate files under continuous traffic: no request fails, and new
    /// handshakes present the new serial.
    @Test func rotatedCertificateFilesAreUsedWithoutDroppingRequests() async throws {
        let (pki, first, frontend, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let tls = Self.downstreamTLS(pki.commonTLS(first, sans: [TestPKI.frontend]), requireClient: true)
        let proxy = try await ProxyHarness.start(Self.inbound(chains: [Self.chain(tls: tls)], appPort: app.port))
        let context = try pki.clientContext(frontend)
        let port = proxy.port()

        // A keep-alive connection opened before the rotation keeps working after it.
        let longLived = try await RawClient(port: port, group: group, tls: context, serverName: "backend.default.svc")
        #expect(try await longLived.get("/").status == 200)
        #expect(try await longLived.peerSerial() == first.serial)

        var failures = 0
        var rotated: TestPKI.Files?
        var newSerialSeen = false
        let deadline = ContinuousClock.now + .seconds(8)
        var sent = 0
        while ContinuousClock.now < deadline, !newSerialSeen {
            if sent == 10 { rotated = try pki.issue("backend", spiffe: TestPKI.backend) }
            let client = try await RawClient(port: port, group: group, tls: context, serverName: "backend.default.svc")
            let status = (try? await client.get("/"))?.status
            if status != 200 { failures += 1 }
            if let rotated, try await client.peerSerial() == rotated.serial { newSerialSeen = true }
            await client.close()
            sent += 1
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(failures == 0)
        #expect(newSerialSeen, "new handshakes present the rotated certificate within the deadline")
        #expect(try await longLived.get("/").status == 200)
        await longLived.close()
        await proxy.stop()
    }

    /// Istio's AuthorizationPolicy shape: only the frontend's SPIFFE ID may reach `/api`; a
    /// DENY-everything shadow policy only counts; a network RBAC refuses one identity outright.
    @Test func rbacAllowsOnlyTheFrontendToReachTheAPI() async throws {
        let (pki, server, frontend, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let intruder = try pki.issue("intruder", spiffe: "spiffe://cluster.local/ns/default/sa/intruder")
        let banned = try pki.issue("banned", spiffe: "spiffe://cluster.local/ns/default/sa/banned")
        let rbacFilter = """
            - name: envoy.filters.http.rbac
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
                rules:
                  action: ALLOW
                  policies:
                    ns[default]-policy[api]-rule[0]:
                      permissions:
                      - and_rules: { rules: [ { or_rules: { rules: [ { url_path: { path: { prefix: /api } } } ] } } ] }
                      principals:
                      - and_ids: { ids: [ { or_ids: { ids: [ { authenticated: { principal_name: { exact: "\(TestPKI.frontend)" } } } ] } } ] }
                shadow_rules:
                  action: DENY
                  policies:
                    dry-run: { permissions: [ { any: true } ], principals: [ { any: true } ] }
            """
        let hcmWithRBAC = Self.hcm.replacingOccurrences(of: "    http_filters:\n", with: "    http_filters:\n" + Bootstrap.indented(rbacFilter, 4) + "\n")
        let networkRBAC = """
            - name: envoy.filters.network.rbac
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC
                stat_prefix: inbound_tcp
                rules:
                  action: DENY
                  policies:
                    no-banned: { permissions: [ { any: true } ], principals: [ { authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/default/sa/banned" } } } ] }
            """
        let chain = [
            "- filters:",
            Bootstrap.indented(networkRBAC, 2),
            Bootstrap.indented(hcmWithRBAC, 2),
            Bootstrap.indented(Self.downstreamTLS(pki.commonTLS(server), requireClient: true), 2),
        ].joined(separator: "\n")
        let proxy = try await ProxyHarness.start(Self.inbound(chains: [chain], appPort: app.port))
        func status(_ identity: TestPKI.Files, _ path: String) async throws -> Int? {
            guard let client = try? await RawClient(port: proxy.port(), group: group, tls: try pki.clientContext(identity)) else { return nil }
            let response = try? await client.get(path)
            await client.close()
            return response?.status
        }
        #expect(try await status(frontend, "/api/users") == 200)
        #expect(try await status(frontend, "/admin") == 403)
        #expect(try await status(intruder, "/api/users") == 403)
        #expect(try await status(banned, "/api/users") == nil, "closed by the network RBAC filter")
        #expect(app.requests.count == 1)
        #expect(try await stat(proxy, "http.inbound_http.rbac.allowed") == 1)
        #expect(try await stat(proxy, "http.inbound_http.rbac.denied") == 2)
        #expect(try await stat(proxy, "http.inbound_http.rbac.shadow_denied") == 3)
        #expect(try await stat(proxy, "inbound_tcp.rbac.denied") == 1)
        #expect(try await stat(proxy, "inbound_tcp.rbac.allowed") == 3)
        await proxy.stop()
    }

    /// The app learns who called: `x-forwarded-client-cert` in Envoy's format (checked against
    /// Envoy 1.40 by hand: same `By`, `Hash`, `Subject`, `URI`), and a forged one is replaced.
    @Test func theAppSeesThePeerIdentityInXFCC() async throws {
        let (pki, server, frontend, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let hcm = Self.hcm.replacingOccurrences(
            of: "    stat_prefix: inbound_http\n",
            with: "    stat_prefix: inbound_http\n    forward_client_cert_details: SANITIZE_SET\n    set_current_client_cert_details: { subject: true, uri: true }\n"
        )
        let chain = ["- filters:", Bootstrap.indented(hcm, 2), Bootstrap.indented(Self.downstreamTLS(pki.commonTLS(server), requireClient: true), 2)]
            .joined(separator: "\n")
        let proxy = try await ProxyHarness.start(Self.inbound(chains: [chain], appPort: app.port))
        let client = try await RawClient(port: proxy.port(), group: group, tls: try pki.clientContext(frontend))
        #expect(try await client.get("/", headers: [("x-forwarded-client-cert", "By=spiffe://forged")]).status == 200)
        await client.close()
        let seen = try #require(app.requests.last)
        let xfcc = seen.headers["x-forwarded-client-cert"].first ?? ""
        #expect(xfcc.hasPrefix("By=\(TestPKI.backend);Hash="), "\(xfcc)")
        #expect(xfcc.hasSuffix(";Subject=\"CN=frontend\";URI=\(TestPKI.frontend)"), "\(xfcc)")
        #expect(seen.headers["x-forwarded-proto"].first == "https")
        await proxy.stop()
    }

    /// Skiff closes a TLS connection (`Connection: close`) with close_notify; a peer that never
    /// answers it must not hold the socket (and Skiff's whole connection state) open: NIOSSL's
    /// default waited 5 s, which at 400 new connections a second kept 60 MB alive. Envoy waits at
    /// most its 1 s delayed close.
    @Test func aPeerThatNeverAnswersCloseNotifyIsClosedPromptly() async throws {
        let (pki, server, _, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let tls = Self.downstreamTLS(pki.commonTLS(server, trust: false), requireClient: false)
        let proxy = try await ProxyHarness.start(Self.inbound(chains: [Self.chain(tls: tls)], appPort: app.port))
        let context = try pki.clientContext()
        let mute = MuteAfterResponse()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(mute)
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(mute.reader)
                }
            }
            .connect(host: "127.0.0.1", port: proxy.port()).get()
        try await channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).get()
        let answered = try await mute.reader.response.futureResult.get()
        #expect(answered.hasPrefix("HTTP/1.1 200"), "\(answered)")
        try await channel.closeFuture.get()
        let held = try await mute.closedAfter.futureResult.get()
        #expect(held < .seconds(2), "Skiff kept the socket \(held.nanoseconds / 1_000_000) ms waiting for close_notify")
        await proxy.stop()
    }

    /// Origination failures before any handshake: a dead port is 503 UF at once, and a host that
    /// accepts TCP but never answers the ClientHello is given up at `connect_timeout`.
    @Test func upstreamTLSToADeadOrSilentHostFailsWithinTheConnectTimeout() async throws {
        let (pki, _, frontend, app) = try await fixture()
        defer { pki.cleanUp(); Task { await app.close() } }
        let silent = try await ServerBootstrap(group: group).childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let dead = try refusingPort()
        let upstreamTLS = """
            transport_socket:
              name: envoy.transport_sockets.tls
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
            \(Bootstrap.indented(pki.commonTLS(frontend, sans: [TestPKI.backend]), 4))
            """
        let yaml = Bootstrap.http(
            routes: """
                - match: { prefix: "/dead" }
                  route: { cluster: dead }
                - match: { prefix: "/" }
                  route: { cluster: silent }
                """,
            clusters: [
                Bootstrap.cluster("dead", ports: [dead], extra: upstreamTLS),
                Bootstrap.cluster("silent", ports: [silent.localAddress!.port!], extra: upstreamTLS),
            ]
        )
        let proxy = try await ProxyHarness.start(yaml)
        let client = try await proxy.client()
        #expect(try await client.get("/dead").status == 503)
        let started = ContinuousClock.now
        let response = try await client.get("/silent")
        #expect(response.status == 503)
        #expect(ContinuousClock.now - started < .seconds(3), "connect_timeout is 0.5 s; the route timeout (15 s) must not be what ends it")
        await client.close()
        await proxy.stop()
        try await silent.close()
    }
}

/// Sits between the socket and the client's TLS handler: once the response has arrived it drops
/// everything the client would send (its close_notify included) and ignores its close, so the
/// server sees a peer that never answers; reports how long after the response the server closed.
private final class MuteAfterResponse: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    final class Reader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var text = ""
        var response: EventLoopPromise<String>!
        var onResponse: () -> Void = {}

        func handlerAdded(context: ChannelHandlerContext) {
            response = context.eventLoop.makePromise()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
            if text.contains("hello from app") {
                onResponse()
                response.succeed(text)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            response.fail(error)
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            response.fail(ChannelError.ioOnClosedChannel)
        }
    }

    let reader = Reader()
    var closedAfter: EventLoopPromise<TimeAmount>!
    private var muted: NIODeadline?

    func handlerAdded(context: ChannelHandlerContext) {
        closedAfter = context.eventLoop.makePromise()
        reader.onResponse = { [unowned self] in self.muted = .now() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if muted != nil {
            promise?.succeed()
            return
        }
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if muted != nil {
            promise?.succeed()
            return
        }
        context.close(mode: mode, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closedAfter.succeed(muted.map { .now() - $0 } ?? .zero)
        context.fireChannelInactive()
    }
}


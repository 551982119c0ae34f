import Foundation
import NIOCore
import NIOPosix
import SkiffTLS
import Testing

/// Certificates over SDS (on the ADS stream, Istio's names `default` and `ROOTCA`): a listener
/// warms until its secrets arrive, and a new `default` pushed under traffic is used by new
/// handshakes at once while open connections keep working.
@Suite(.serialized)
struct SDSTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    static func json(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
    }

    /// A CA, the frontend's certificate (files), a backend leaf to serve over SDS, a plaintext app,
    /// and an SDS server (istio-agent's role) on a Unix socket.
    func agentFixture() async throws -> (TestPKI, TestPKI.Files, CertificateMint.Issued, TestUpstream, ControlPlaneProcess, String) {
        let pki = try TestPKI()
        let frontend = try pki.issue("frontend", spiffe: TestPKI.frontend)
        let leaf = try pki.mint.issue(commonName: "backend", uris: [TestPKI.backend])
        let socket = pki.directory + "/agent.sock"
        let agent = try await ControlPlaneProcess(uds: socket)
        return (pki, frontend, leaf, try await TestUpstream.start("app", group: group), agent, socket)
    }

    /// The static `sds-grpc` cluster reaching the agent's Unix socket (a `clusters:` list item).
    static func agentCluster(_ socket: String) -> String {
        """
          - name: sds-grpc
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: sds-grpc
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { pipe: { path: \(socket) } } }
        """
    }

    static func certificateSecret(_ name: String, certificatePEM: String, keyPEM: String) -> String {
        """
        {"@type":"\(XDSType.secret.url)","name":"\(name)","tls_certificate":{\
        "certificate_chain":{"inline_string":\(json(certificatePEM))},"private_key":{"inline_string":\(json(keyPEM))}}}
        """
    }

    static func trustSecret(_ name: String, caPEM: String) -> String {
        """
        {"@type":"\(XDSType.secret.url)","name":"\(name)","validation_context":{"trusted_ca":{"inline_string":\(json(caPEM))}}}
        """
    }

    /// An mTLS listener whose certificate and trust bundle come from SDS over ADS.
    static func sdsListener(port: Int, cluster: String, sdsConfig: String? = nil) -> String {
        let ads = sdsConfig ?? "{\"ads\":{},\"resource_api_version\":\"V3\"}"
        return """
            {"@type":"\(XDSType.listener.url)","name":"inbound",\
            "address":{"socket_address":{"address":"127.0.0.1","port_value":\(port)}},\
            "filter_chains":[{"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{\
            "@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",\
            "stat_prefix":"inbound","route_config":{"name":"inline","virtual_hosts":[{"name":"all","domains":["*"],\
            "routes":[{"match":{"prefix":"/"},"route":{"cluster":"\(cluster)"}}]}]},\(XDSResources.router)}}],\
            "transport_socket":{"name":"envoy.transport_sockets.tls","typed_config":{\
            "@type":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",\
            "require_client_certificate":true,"common_tls_context":{\
            "tls_certificate_sds_secret_configs":[{"name":"default","sds_config":\(ads)}],\
            "combined_validation_context":{"default_validation_context":{"match_typed_subject_alt_names":[\
            {"san_type":"URI","matcher":{"exact":"\(TestPKI.frontend)"}}]},\
            "validation_context_sds_secret_config":{"name":"ROOTCA","sds_config":\(ads)}}}}}}]}
            """
    }

    @Test func certificatesFromSDSRotateUnderTraffic() async throws {
        let pki = try TestPKI()
        defer { pki.cleanUp() }
        let frontend = try pki.issue("frontend", spiffe: TestPKI.frontend)
        let first = try pki.mint.issue(commonName: "backend", uris: [TestPKI.backend])
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let cp = try await ControlPlaneProcess()
        defer { cp.stop() }
        let port = try await freePort()
        try await cp.push(.cluster, version: "v1", [XDSResources.staticCluster("app", ports: [app.port])])
        try await cp.push(.listener, version: "v1", [Self.sdsListener(port: port, cluster: "app")])
        let proxy = try await ProxyHarness.start(XDSResources.bootstrap(xdsPort: cp.xdsPort, fetchTimeout: "10s"))

        // The listener warms until both secrets are in.
        try await Task.sleep(for: .milliseconds(500))
        #expect((try? await RawClient(port: port, group: group)) == nil, "not listening before its secrets arrive")
        try await cp.push(.secret, version: "s1", [
            Self.certificateSecret("default", certificatePEM: first.certificatePEM, keyPEM: first.privateKeyPEM),
            Self.trustSecret("ROOTCA", caPEM: pki.mint.ca.certificatePEM),
        ])
        let context = try pki.clientContext(frontend)
        var longLived: RawClient?
        let deadline = ContinuousClock.now + .seconds(10)
        while longLived == nil, ContinuousClock.now < deadline {
            if let client = try? await RawClient(port: port, group: group, tls: context), (try? await client.get("/"))?.status == 200 {
                longLived = client
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let open = try #require(longLived)
        #expect(try await open.peerSerial() == first.serial)

        let second = try pki.mint.issue(commonName: "backend", uris: [TestPKI.backend])
        try await cp.push(.secret, version: "s2", [
            Self.certificateSecret("default", certificatePEM: second.certificatePEM, keyPEM: second.privateKeyPEM),
            Self.trustSecret("ROOTCA", caPEM: pki.mint.ca.certificatePEM),
        ])
        try await cp.waitForACK(.secret, version: "s2")
        let fresh = try await RawClient(port: port, group: group, tls: context)
        #expect(try await fresh.get("/").status == 200)
        #expect(try await fresh.peerSerial() == second.serial, "new handshakes use the pushed certificate at once")
        await fresh.close()
        #expect(try await open.get("/").status == 200, "the connection opened before keeps working")
        await open.close()
        await proxy.stop()
    }

    /// istio-agent's shape: a static listener whose certificate and trust bundle come from an SDS
    /// server on a Unix socket (`sds-grpc`), not from the control plane's stream.
    @Test func secretsFromAnSDSServerOnAUnixSocket() async throws {
        let (pki, frontend, first, app, agent, socket) = try await agentFixture()
        defer { pki.cleanUp(); agent.stop(); Task { await app.close() } }
        let sds = "{ api_config_source: { api_type: GRPC, transport_api_version: V3, grpc_services: [ { envoy_grpc: { cluster_name: sds-grpc } } ] }, resource_api_version: V3 }"
        let yaml = """
            admin:
              address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            static_resources:
              listeners:
              - name: main
                address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
                filter_chains:
            \(Bootstrap.indented(TLSTests.chain(tls: """
                transport_socket:
                  name: envoy.transport_sockets.tls
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
                    require_client_certificate: true
                    common_tls_context:
                      tls_certificate_sds_secret_configs: [ { name: default, sds_config: \(sds) } ]
                      combined_validation_context:
                        default_validation_context: { match_typed_subject_alt_names: [ { san_type: URI, matcher: { exact: "\(TestPKI.frontend)" } } ] }
                        validation_context_sds_secret_config: { name: ROOTCA, sds_config: \(sds) }
                """), 4))
              clusters:
            \(Bootstrap.indented(Bootstrap.cluster("app", ports: [app.port]), 2))
            \(Self.agentCluster(socket))
            """
        let proxy = try await ProxyHarness.start(yaml)
        let context = try pki.clientContext(frontend)
        func serial() async -> String? {
            guard let client = try? await RawClient(port: proxy.port(), group: group, tls: context) else { return nil }
            let ok = (try? await client.get("/"))?.status == 200
            let serial = ok ? try? await client.peerSerial() : nil
            await client.close()
            return serial ?? nil
        }
        #expect(await serial() == nil, "no certificate until the SDS server sends one")
        try await agent.push(.secret, version: "a1", [
            Self.certificateSecret("default", certificatePEM: first.certificatePEM, keyPEM: first.privateKeyPEM),
            Self.trustSecret("ROOTCA", caPEM: pki.mint.ca.certificatePEM),
        ])
        var seen: String?
        let deadline = ContinuousClock.now + .seconds(10)
        while seen == nil, ContinuousClock.now < deadline {
            seen = await serial()
            if seen == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen == first.serial)
        let second = try pki.mint.issue(commonName: "backend", uris: [TestPKI.backend])
        try await agent.push(.secret, version: "a2", [
            Self.certificateSecret("default", certificatePEM: second.certificatePEM, keyPEM: second.privateKeyPEM),
            Self.trustSecret("ROOTCA", caPEM: pki.mint.ca.certificatePEM),
        ])
        try await agent.waitForACK(.secret, version: "a2")
        #expect(await serial() == second.serial)
        let names = try await agent.requests(of: .secret).compactMap { $0["resource_names"] as? [String] }.last
        #expect(names == ["ROOTCA", "default"], "Skiff asks the SDS server for exactly the names it uses")
        await proxy.stop()
    }

    /// Istio's full shape: the listener comes from the control plane over ADS, its secrets from
    /// the agent's SDS socket. The listener warms only until the agent's secrets arrive.
    @Test func anADSListenerWithSecretsFromTheAgentsSocket() async throws {
        let (pki, frontend, leaf, app, agent, socket) = try await agentFixture()
        defer { pki.cleanUp(); agent.stop(); Task { await app.close() } }
        try await agent.push(.secret, version: "a1", [
            Self.certificateSecret("default", certificatePEM: leaf.certificatePEM, keyPEM: leaf.privateKeyPEM),
            Self.trustSecret("ROOTCA", caPEM: pki.mint.ca.certificatePEM),
        ])
        let istiod = try await ControlPlaneProcess()
        defer { istiod.stop() }
        let port = try await freePort()
        let agentSource = "{\"api_config_source\":{\"api_type\":\"GRPC\",\"transport_api_version\":\"V3\",\"grpc_services\":[{\"envoy_grpc\":{\"cluster_name\":\"sds-grpc\"}}]},\"resource_api_version\":\"V3\"}"
        try await istiod.push(.cluster, version: "v1", [XDSResources.staticCluster("app", ports: [app.port])])
        try await istiod.push(.listener, version: "v1", [Self.sdsListener(port: port, cluster: "app", sdsConfig: agentSource)])
        // A long initial_fetch_timeout: only the agent's secrets can end the warming in time.
        let yaml = XDSResources.bootstrap(xdsPort: istiod.xdsPort, fetchTimeout: "30s") + "\n" + Self.agentCluster(socket) + "\n"
        let proxy = try await ProxyHarness.start(yaml)
        let context = try pki.clientContext(frontend)
        var status: Int?
        let deadline = ContinuousClock.now + .seconds(8)
        while status != 200, ContinuousClock.now < deadline {
            if let client = try? await RawClient(port: port, group: group, tls: context) {
                status = (try? await client.get("/"))?.status
                await client.close()
            }
            if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 200)
        let overADS = try await istiod.requests(of: .secret)
        #expect(overADS.isEmpty, "the agent's secrets are not asked of the control plane")
        await proxy.stop()
    }
}

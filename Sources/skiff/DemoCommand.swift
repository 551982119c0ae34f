import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SkiffConfig
import SkiffCore
import SkiffServer
import SkiffTelemetry
import SkiffTLS

/// `skiff demo`: Skiff's main job on a built-in default, all on 127.0.0.1.
///
/// Starts small upstream apps — v1, and v2 on two pods of which one is a broken deploy that
/// answers 503 — and a Skiff listener that splits traffic 90/10 between v1 and v2 (an Envoy
/// bootstrap written to a temp file, loaded through the same path as `-c`). Retries
/// (`retry_on: 5xx`, to another host) hide the broken pod from clients, and outlier detection
/// ejects it after 3 consecutive 5xx. The hop to v1 goes through v1's inbound sidecar listener
/// over mutual TLS, with a CA and SPIFFE certificates minted at start; v1 is told who called
/// (`x-forwarded-client-cert`). The demo drives requests through it, prints the split, status
/// codes, latency percentiles, retries, ejections and the peer identity v1 saw, and keeps
/// serving until Ctrl-C.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a 90/10 canary split between two built-in apps and report what Skiff did."
    )

    @Option(help: "Requests to drive through the proxy.")
    var requests: Int = 500

    @Option(help: "Concurrent keep-alive client connections.")
    var connections: Int = 8

    @Option(help: "Listener port (0 picks a free one).")
    var port: Int = 10000

    @Option(name: .customLong("admin-port"), help: "Admin port (0 picks a free one).")
    var adminPort: Int = 9901

    @Option(name: .customLong("inbound-port"), help: "v1's inbound (mTLS) sidecar listener port (0 picks a free one).")
    var inboundPort: Int = 15006

    @Option(help: "Worker event loops.")
    var concurrency: Int = System.coreCount

    @Flag(name: .customLong("no-wait"), help: "Exit after the report instead of serving until Ctrl-C.")
    var noWait = false

    func run() async throws {
        let logger = makeLogger("warning")
        let appGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let v1 = try await BuiltinUpstream.start(name: "v1", group: appGroup)
        let v2 = try await BuiltinUpstream.start(name: "v2", group: appGroup)
        let v2Broken = try await BuiltinUpstream.start(name: "v2-broken", failing: true, group: appGroup)
        let certificates = try DemoCertificates.mint()
        let inbound = inboundPort == 0 ? try freePort() : inboundPort
        let yaml = DemoBootstrap.yaml(
            listenerPort: port, adminPort: adminPort, v1Port: v1.address.port!, v2Ports: [v2.address.port!, v2Broken.address.port!],
            inboundPort: inbound, certificates: certificates
        )
        let bootstrapPath = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-demo-bootstrap.yaml").path
        try yaml.write(toFile: bootstrapPath, atomically: true, encoding: .utf8)

        let snapshot = try BootstrapLoader.load(path: bootstrapPath)
        let server: SkiffServer
        do {
            server = try await SkiffServer.start(snapshot, options: ServerOptions(concurrency: concurrency, drainTime: .seconds(1), logger: logger))
        } catch {
            print("could not start Skiff on 127.0.0.1:\(port) / admin \(adminPort): \(error)")
            print("another process may hold those ports; try: swift run -c release skiff demo --port 0 --admin-port 0")
            throw ExitCode(1)
        }
        let proxy = server.listenerAddress(named: "demo")!
        print("Skiff demo: listener http://127.0.0.1:\(proxy.port!) → v1 (weight 90) over mTLS via its inbound sidecar :\(inbound) to :\(v1.address.port!), v2 (weight 10) on :\(v2.address.port!) and :\(v2Broken.address.port!) (a broken pod: always 503)")
        print("certificates (minted now, CA \(certificates.directory)/ca.pem): outbound \(DemoCertificates.frontendID), v1 inbound \(DemoCertificates.v1ID)")
        print("bootstrap: \(bootstrapPath)")
        print("driving \(requests) requests over \(connections) keep-alive connections...")

        let report = try await DemoClient.drive(
            host: "127.0.0.1", port: proxy.port!, requests: requests, connections: connections, group: appGroup
        )
        print(report.render())
        let samples = await server.statsSamples()
        let stats = Dictionary(samples.map { ($0.envoyName, $0.value) }, uniquingKeysWith: { a, _ in a })
        print("""
            retries:   \(stats["cluster.v2.upstream_rq_retry"] ?? 0) (\(stats["cluster.v2.upstream_rq_retry_success"] ?? 0) succeeded) — the broken v2 pod's 503s never reached a client
            ejections: \(stats["cluster.v2.outlier_detection.ejections_enforced_total"] ?? 0) (active now: \(stats["cluster.v2.outlier_detection.ejections_active"] ?? 0)) — after 3 consecutive 5xx it is out of rotation for 30 s
            mTLS:      \(stats["cluster.v1.ssl.handshake"] ?? 0) handshake(s) to v1's sidecar (\(stats["listener.v1_inbound.ssl.handshake"] ?? 0) accepted, SAN-checked both ways); v1 saw its caller as \(report.peers["v1"] ?? "(none)")
            """)
        let admin = server.adminAddress.map { "http://127.0.0.1:\($0.port!)" } ?? "(none)"
        print("\nPrometheus: scrape \(admin)/stats/prometheus (Envoy's names and labels; a few series now):")
        print(DemoMetrics.keySeries(samples))
        print("""

            admin:   \(admin)/stats/prometheus   \(admin)/clusters   \(admin)/config_dump   \(admin)/certs
            try:     curl -s http://127.0.0.1:\(proxy.port!)/   (a 90/10 split between v1 and v2)
                     curl -s http://127.0.0.1:\(proxy.port!)/ -H 'x-canary: always'   (always v2)
            """)
        if noWait {
            await server.stop()
        } else {
            print("serving until Ctrl-C")
            try await ServerService.runUntilSignalled(server, logger: logger)
        }
        await v1.close()
        await v2.close()
        await v2Broken.close()
        certificates.cleanUp()
        try await appGroup.shutdownGracefully()
        if report.failures > 0 {
            throw ExitCode(1)
        }
    }
}

/// The demo's Envoy bootstrap: the same file runs under Envoy.
enum DemoBootstrap {
    static func yaml(listenerPort: Int, adminPort: Int, v1Port: Int, v2Ports: [Int], inboundPort: Int, certificates: DemoCertificates) -> String {
        let dir = certificates.directory
        let v2Endpoints = v2Ports.map { "        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: \($0) } } }" }
            .joined(separator: "\n")
        return
        """
        # Generated by `skiff demo`. Runs unchanged under Envoy: envoy -c <this file>
        node:
          id: skiff-demo
          cluster: demo
        admin:
          address:
            socket_address: { address: 127.0.0.1, port_value: \(adminPort) }
        static_resources:
          listeners:
          - name: demo
            address:
              socket_address: { address: 127.0.0.1, port_value: \(listenerPort) }
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: demo
                  route_config:
                    name: demo
                    virtual_hosts:
                    - name: demo
                      domains: ["*"]
                      routes:
                      - match:
                          prefix: "/"
                          headers:
                          - name: x-canary
                            string_match: { exact: always }
                        route: { cluster: v2 }
                      - match: { prefix: "/" }
                        route:
                          weighted_clusters:
                            clusters:
                            - { name: v1, weight: 90 }
                            - { name: v2, weight: 10 }
                      retry_policy:
                        retry_on: 5xx
                        num_retries: 2
                        retry_host_predicate:
                        - name: envoy.retry_host_predicates.previous_hosts
                          typed_config:
                            "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
                        host_selection_retry_max_attempts: 5
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          # v1's inbound sidecar: mTLS only, callers must be the frontend's SPIFFE ID; v1 is told
          # who called in x-forwarded-client-cert.
          - name: v1_inbound
            stat_prefix: v1_inbound
            address:
              socket_address: { address: 127.0.0.1, port_value: \(inboundPort) }
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: v1_inbound
                  forward_client_cert_details: SANITIZE_SET
                  set_current_client_cert_details: { uri: true }
                  route_config:
                    virtual_hosts:
                    - name: v1
                      domains: ["*"]
                      routes:
                      - match: { prefix: "/" }
                        route: { cluster: v1_app }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              transport_socket:
                name: envoy.transport_sockets.tls
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
                  require_client_certificate: true
                  common_tls_context:
                    tls_certificates:
                    - certificate_chain: { filename: \(dir)/v1.pem }
                      private_key: { filename: \(dir)/v1.key }
                    validation_context:
                      trusted_ca: { filename: \(dir)/ca.pem }
                      match_typed_subject_alt_names:
                      - { san_type: URI, matcher: { exact: "\(DemoCertificates.frontendID)" } }
          clusters:
          - name: v1
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: \(inboundPort) } } }
            transport_socket:
              name: envoy.transport_sockets.tls
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
                sni: v1.demo.svc.cluster.local
                common_tls_context:
                  tls_certificates:
                  - certificate_chain: { filename: \(dir)/frontend.pem }
                    private_key: { filename: \(dir)/frontend.key }
                  validation_context:
                    trusted_ca: { filename: \(dir)/ca.pem }
                    match_typed_subject_alt_names:
                    - { san_type: URI, matcher: { exact: "\(DemoCertificates.v1ID)" } }
          - name: v1_app
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: v1_app
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: \(v1Port) } } }
          - name: v2
            type: STATIC
            connect_timeout: 1s
            outlier_detection:
              consecutive_5xx: 3
              interval: 1s
              base_ejection_time: 30s
              max_ejection_percent: 50
              enforcing_success_rate: 0
            load_assignment:
              cluster_name: v2
              endpoints:
              - lb_endpoints:
        \(v2Endpoints)

        """
    }
}

/// The demo's PKI: a CA and two SPIFFE identities, minted at start into a temp directory.
struct DemoCertificates {
    static let frontendID = "spiffe://cluster.local/ns/demo/sa/frontend"
    static let v1ID = "spiffe://cluster.local/ns/demo/sa/v1"

    let directory: String

    static func mint() throws -> DemoCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-demo-certs-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mint = try CertificateMint(name: "Skiff demo CA", days: 1)
        try mint.ca.certificatePEM.write(toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
        for (name, id) in [("frontend", frontendID), ("v1", v1ID)] {
            let issued = try mint.issue(commonName: name, uris: [id], dnsNames: ["\(name).demo.svc.cluster.local"], validFor: 12 * 3600)
            try issued.certificatePEM.write(toFile: directory + "/\(name).pem", atomically: true, encoding: .utf8)
            try issued.privateKeyPEM.write(toFile: directory + "/\(name).key", atomically: true, encoding: .utf8)
        }
        return DemoCertificates(directory: directory)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A port nothing listens on right now (bound and released), for the demo's inbound listener.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw CocoaError(.fileWriteUnknown) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The series an operator looks at first, as Prometheus scrapes them.
enum DemoMetrics {
    static func keySeries(_ samples: [StatSample]) -> String {
        let wanted = ["envoy_http_downstream_rq_xx{", "envoy_cluster_upstream_rq_xx{", "envoy_cluster_upstream_rq_retry{",
                      "envoy_cluster_outlier_detection_ejections_enforced_total{"]
        var lines = PrometheusRenderer.render(samples).split(separator: "\n").filter { line in
            wanted.contains { line.hasPrefix($0) } && !line.hasSuffix(" 0") && !line.contains("\"admin\"")
        }.map { "  " + $0 }
        if let latency = samples.first(where: { $0.envoyName == "http.demo.downstream_rq_time" })?.histogram, latency.count > 0 {
            let p50 = latency.quantile(50).map { String(format: "%.1f", $0) } ?? "-"
            let p99 = latency.quantile(99).map { String(format: "%.1f", $0) } ?? "-"
            lines.append("  envoy_http_downstream_rq_time (histogram): \(latency.count) requests, p50 ≈ \(p50) ms, p99 ≈ \(p99) ms (within Envoy's buckets)")
            lines.append("    PromQL: histogram_quantile(0.99, sum(rate(envoy_http_downstream_rq_time_bucket[1m])) by (le))")
        }
        return lines.joined(separator: "\n")
    }
}

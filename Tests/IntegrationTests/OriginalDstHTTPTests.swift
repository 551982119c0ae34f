import NIOCore
import NIOPosix
import Testing

/// An HTTP route to an `ORIGINAL_DST` cluster that takes its destination from a header
/// (`original_dst_lb_config.use_http_header`), side by side with Envoy 1.40.
@Suite(.serialized)
struct OriginalDstHTTPTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static func bootstrap(port: Int = 0, admin: Int = 0, portOverride: Int) -> String {
        var yaml = Bootstrap.http(
            routes: """
            - match: { prefix: /override }
              route: { cluster: pinned }
            - match: { prefix: / }
              route: { cluster: by_header }
            """,
            clusters: [
                """
                - name: by_header
                  type: ORIGINAL_DST
                  lb_policy: CLUSTER_PROVIDED
                  connect_timeout: 1s
                  original_dst_lb_config: { use_http_header: true }
                - name: pinned
                  type: ORIGINAL_DST
                  lb_policy: CLUSTER_PROVIDED
                  connect_timeout: 1s
                  original_dst_lb_config: { use_http_header: true, http_header_name: x-dst, upstream_port_override: \(portOverride) }
                """,
            ]
        )
        for value in [admin, port] {
            yaml = yaml.replacingOccurrences(of: "port_value: 0 }", with: "port_value: \(value) }", options: [], range: yaml.range(of: "port_value: 0 }"))
        }
        return yaml
    }

    func scenario(port: Int, admin: Int, first: TestUpstream, second: TestUpstream) async throws -> [String] {
        var seen: [String] = []
        let cases: [(String, [(String, String)])] = [
            ("/", [("x-envoy-original-dst-host", "127.0.0.1:\(first.port)")]),
            ("/", [("x-envoy-original-dst-host", "127.0.0.1:\(second.port)")]),
            ("/", [("x-envoy-original-dst-host", "not-an-address")]),
            ("/", []),
            ("/override", [("x-dst", "127.0.0.1:1")]),
        ]
        for (path, headers) in cases {
            let client = try await RawClient(port: port, group: group)
            let response = try await client.get(path, headers: headers)
            await client.close()
            seen.append("\(path) \(headers.first?.1.replacingOccurrences(of: "\(first.port)", with: "FIRST").replacingOccurrences(of: "\(second.port)", with: "SECOND") ?? "-") -> \(response.status) \(response.header("x-upstream") ?? "-")")
        }
        let stats = try await httpGet(port: admin, path: "/stats?filter=upstream_cx_total").body
        seen += stats.split(separator: "\n").filter { $0.contains("by_header") || $0.contains("pinned") }.map(String.init).sorted()
        return seen
    }

    @Test func headerChoosesTheDestinationAndPortOverrideAppliesAsInEnvoy() async throws {
        let first = try await TestUpstream.start("first", group: group)
        let second = try await TestUpstream.start("second", group: group)
        let skiff = try await ProxyHarness.start(Self.bootstrap(portOverride: second.port), concurrency: 1)
        let skiffSaw = try await scenario(port: skiff.port(), admin: skiff.adminPort, first: first, second: second)
        await skiff.stop()
        #expect(skiffSaw.prefix(2) == ["/ 127.0.0.1:FIRST -> 200 first", "/ 127.0.0.1:SECOND -> 200 second"])
        #expect(skiffSaw[4] == "/override 127.0.0.1:1 -> 200 second")
        if EnvoyBinary.path != nil {
            let port = try await freePort(), admin = try await freePort()
            let envoy = try EnvoyProcess(bootstrapYAML: Self.bootstrap(port: port, admin: admin, portOverride: second.port))
            defer { envoy.stop() }
            try await envoy.waitUntilReady(adminPort: admin, group: group)
            let envoySaw = try await scenario(port: port, admin: admin, first: first, second: second)
            #expect(skiffSaw == envoySaw, "Skiff: \(skiffSaw)\nEnvoy: \(envoySaw)")
        }
        await first.close()
        await second.close()
    }
}

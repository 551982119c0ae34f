import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// The reference ADS control plane (`Tests/Support/xds_control_plane.py`, on grpcio and
/// Envoy's published `xds-protos`), one process per test, scripted over its JSON port.
final class ControlPlaneProcess: @unchecked Sendable {
    let process = Process()
    let xdsPort: Int
    let controlPort: Int
    private var stopped = false

    static let script: String = {
        // Tests/IntegrationTests/Support/ControlPlaneProcess.swift → Tests/Support/xds_control_plane.py
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/xds_control_plane.py").path
    }()

    /// Starts the control plane on `xdsPort` (a fresh one when nil) and waits until it answers.
    /// With `uds`, it serves on that Unix domain socket instead (as istio-agent does).
    init(xdsPort: Int? = nil, uds: String? = nil) async throws {
        if let xdsPort {
            self.xdsPort = xdsPort
        } else {
            self.xdsPort = try await freePort()
        }
        self.controlPort = try await freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, "--port", String(self.xdsPort), "--control-port", String(controlPort)]
            + (uds.map { ["--uds", $0] } ?? [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if (try? await call("GET", "/streams")) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw TestError("the control plane did not start (is grpcio / xds-protos installed?)")
    }

    // MARK: Scripting

    /// Replaces the snapshot of one type and pushes it to every open stream.
    func push(_ type: XDSType, version: String, _ resources: [String]) async throws {
        let body = "{\"type_url\":\"\(type.url)\",\"version\":\"\(version)\",\"resources\":[\(resources.joined(separator: ","))]}"
        let response = try await call("POST", "/push", body: body)
        guard response.status == 200 else { throw TestError("push failed: \(response.body)") }
    }

    /// Every request received so far.
    func requests() async throws -> [[String: Any]] {
        let response = try await call("GET", "/requests")
        let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8))
        return json as? [[String: Any]] ?? []
    }

    func requests(of type: XDSType) async throws -> [[String: Any]] {
        try await requests().filter { ($0["type_url"] as? String) == type.url }
    }

    /// Waits until Skiff ACKed (no `error_detail`) a response of `type` that carried `version`.
    func waitForACK(_ type: XDSType, version: String, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let response = try await call("GET", "/responses")
            let sent = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [[String: Any]] ?? []
            let nonces = Set(sent.filter { $0["type_url"] as? String == type.url && $0["version"] as? String == version }
                .compactMap { $0["nonce"] as? String })
            let acked = try await requests(of: type).contains {
                nonces.contains($0["response_nonce"] as? String ?? "") && $0["error_detail"] == nil
            }
            if acked { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestError("\(type) version \(version) was not acknowledged within \(timeout)")
    }

    func openStreams() async throws -> Int {
        let response = try await call("GET", "/streams")
        let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
        return json?["open"] as? Int ?? 0
    }

    /// Polls until `check` holds on the recorded requests.
    @discardableResult
    func waitForRequest(
        _ type: XDSType, timeout: Duration = .seconds(10), where check: @escaping ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let match = try await requests(of: type).first(where: check) { return match }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestError("no \(type) request matched within \(timeout): \(try await requests(of: type))")
    }

    private func call(_ method: String, _ path: String, body: String = "") async throws -> RawClient.Response {
        let client = try await RawClient(port: controlPort, group: MultiThreadedEventLoopGroup.singleton)
        do {
            try await client.send("\(method) \(path) HTTP/1.1\r\nhost: cp\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)")
            let response = try await client.readResponse(timeout: .seconds(10))
            await client.close()
            return response
        } catch {
            await client.close()
            throw error
        }
    }

    /// Kills the process this test started, by PID (SIGKILL: see `EnvoyProcess.stop`).
    func stop() {
        let pid = process.processIdentifier
        guard pid > 0, !stopped else { return }
        stopped = true
        kill(pid, SIGKILL)
        var status: Int32 = 0
        // Foundation may reap the child itself (waitpid then fails with ECHILD).
        for _ in 0..<500 {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || reaped == -1 || !process.isRunning { break }
            usleep(10_000)
        }
    }

    deinit { stop() }
}

/// Resource types and Envoy-JSON resource builders for control-plane tests.
enum XDSType: String {
    case cluster, endpoint, listener, route, secret

    var url: String {
        switch self {
        case .cluster: return "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        case .endpoint: return "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
        case .listener: return "type.googleapis.com/envoy.config.listener.v3.Listener"
        case .route: return "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
        case .secret: return "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
        }
    }
}

enum XDSResources {
    static func edsCluster(_ name: String) -> String {
        """
        {"@type":"\(XDSType.cluster.url)","name":"\(name)","type":"EDS","connect_timeout":"1s",\
        "eds_cluster_config":{"eds_config":{"ads":{},"resource_api_version":"V3"}}}
        """
    }

    static func staticCluster(_ name: String, ports: [Int], host: String = "127.0.0.1") -> String {
        """
        {"@type":"\(XDSType.cluster.url)","name":"\(name)","type":"STATIC","connect_timeout":"1s",\
        "load_assignment":{"cluster_name":"\(name)","endpoints":[{"lb_endpoints":[\(lbEndpoints(ports, host: host))]}]}}
        """
    }

    static func assignment(_ name: String, ports: [Int]) -> String {
        """
        {"@type":"\(XDSType.endpoint.url)","cluster_name":"\(name)","endpoints":[{"lb_endpoints":[\(lbEndpoints(ports, host: "127.0.0.1"))]}]}
        """
    }

    private static func lbEndpoints(_ ports: [Int], host: String) -> String {
        ports.map { "{\"endpoint\":{\"address\":{\"socket_address\":{\"address\":\"\(host)\",\"port_value\":\($0)}}}}" }
            .joined(separator: ",")
    }

    static let router = """
        "http_filters":[{"name":"envoy.filters.http.router","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
        """

    /// A listener whose connection manager takes routes `routeName` over RDS.
    static func rdsListener(_ name: String, port: Int, routeName: String, statPrefix: String = "ingress") -> String {
        """
        {"@type":"\(XDSType.listener.url)","name":"\(name)",\
        "address":{"socket_address":{"address":"127.0.0.1","port_value":\(port)}},\
        "filter_chains":[{"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{\
        "@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",\
        "stat_prefix":"\(statPrefix)","rds":{"route_config_name":"\(routeName)","config_source":{"ads":{},"resource_api_version":"V3"}},\
        \(router)}}]}]}
        """
    }

    /// A listener with inline routes to `cluster`, one chain per entry of `chains`
    /// (destination port or nil for the catch-all, and the chain's stat prefix).
    static func inlineListener(_ name: String, port: Int, chains: [(port: Int?, cluster: String, prefix: String)]) -> String {
        let rendered = chains.map { chain -> String in
            let match = chain.port.map { ",\"filter_chain_match\":{\"destination_port\":\($0)}" } ?? ""
            return """
                {"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{\
                "@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",\
                "stat_prefix":"\(chain.prefix)","route_config":{"name":"inline","virtual_hosts":[{"name":"all","domains":["*"],\
                "routes":[{"match":{"prefix":"/"},"route":{"cluster":"\(chain.cluster)"}}]}]},\(router)}}]\(match)}
                """
        }
        return """
            {"@type":"\(XDSType.listener.url)","name":"\(name)",\
            "address":{"socket_address":{"address":"127.0.0.1","port_value":\(port)}},\
            "filter_chains":[\(rendered.joined(separator: ","))]}
            """
    }

    /// A route configuration splitting `/` across weighted clusters.
    static func weightedRoute(_ name: String, _ weights: [(cluster: String, weight: Int)]) -> String {
        let clusters = weights.map { "{\"name\":\"\($0.cluster)\",\"weight\":\($0.weight)}" }.joined(separator: ",")
        return """
            {"@type":"\(XDSType.route.url)","name":"\(name)","virtual_hosts":[{"name":"all","domains":["*"],\
            "routes":[{"match":{"prefix":"/"},"route":{"weighted_clusters":{"clusters":[\(clusters)]}}}]}]}
            """
    }

    /// A bootstrap with only the ADS cluster and dynamic LDS/CDS.
    static func bootstrap(xdsPort: Int, apiType: String = "GRPC", fetchTimeout: String = "2s", uds: String? = nil) -> String {
        let address = uds.map { "{pipe: {path: \"\($0)\"}}" } ?? "{socket_address: {address: 127.0.0.1, port_value: \(xdsPort)}}"
        return """
        node:
          id: test-node
          cluster: test-cluster
          metadata: {team: mesh}
        admin:
          address: {socket_address: {address: 127.0.0.1, port_value: 0}}
        dynamic_resources:
          ads_config:
            api_type: \(apiType)
            transport_api_version: V3
            grpc_services:
            - envoy_grpc: {cluster_name: xds_cluster}
          cds_config: {ads: {}, resource_api_version: V3, initial_fetch_timeout: \(fetchTimeout)}
          lds_config: {ads: {}, resource_api_version: V3, initial_fetch_timeout: \(fetchTimeout)}
        static_resources:
          clusters:
          - name: xds_cluster
            type: STATIC
            connect_timeout: 1s
            typed_extension_protocol_options:
              envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                explicit_http_config: {http2_protocol_options: {}}
            load_assignment:
              cluster_name: xds_cluster
              endpoints:
              - lb_endpoints:
                - endpoint: {address: \(address)}
        """
    }
}

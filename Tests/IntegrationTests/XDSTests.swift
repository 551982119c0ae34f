import Foundation
import NIOCore
import NIOPosix
import Testing

/// Skiff against the reference control plane (grpcio + Envoy's published xds-protos), over real
/// gRPC on loopback: initial delivery, ACK/NACK, weight and endpoint changes under traffic,
/// partial acceptance, control-plane restarts; SotW and Delta.
@Suite(.serialized)
struct XDSTests {
    var group: MultiThreadedEventLoopGroup { .singleton }

    /// Two upstreams (blue, green) as EDS clusters, a listener on `port` taking routes "local"
    /// over RDS, routes splitting by `weights`; all pushed before Skiff starts.
    struct Mesh {
        let controlPlane: ControlPlaneProcess
        let proxy: ProxyHarness
        let blue: TestUpstream
        let green: TestUpstream
        let port: Int

        func stop() async {
            await proxy.stop()
            controlPlane.stop()
            await blue.close()
            await green.close()
        }
    }

    func startMesh(apiType: String = "GRPC", weights: (Int, Int) = (100, 0)) async throws -> Mesh {
        let blue = try await TestUpstream.start("blue", group: group)
        let green = try await TestUpstream.start("green", group: group)
        let cp = try await ControlPlaneProcess()
        let port = try await freePort()
        try await cp.push(.cluster, version: "v1", [XDSResources.edsCluster("blue"), XDSResources.edsCluster("green")])
        try await cp.push(.endpoint, version: "v1", [
            XDSResources.assignment("blue", ports: [blue.port]), XDSResources.assignment("green", ports: [green.port]),
        ])
        try await cp.push(.listener, version: "v1", [XDSResources.rdsListener("main", port: port, routeName: "local")])
        try await cp.push(.route, version: "v1", [XDSResources.weightedRoute("local", [("blue", weights.0), ("green", weights.1)])])
        let proxy = try await ProxyHarness.start(XDSResources.bootstrap(xdsPort: cp.xdsPort, apiType: apiType))
        let mesh = Mesh(controlPlane: cp, proxy: proxy, blue: blue, green: green, port: port)
        try await waitForServing(port: port)
        return mesh
    }

    func waitForServing(port: Int, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let client = try? await RawClient(port: port, group: group) {
                let response = try? await client.get("/")
                await client.close()
                if response?.status == 200 { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestError("the dynamic listener on \(port) never served")
    }

    /// Pushes a new weighted route and checks that, from one second after the push, the split
    /// follows it.
    ///
    /// Skiff ACKs a response only after every worker has it, so on a loaded machine (CI runs
    /// suites in parallel) the window starts at the later of push + 1 s and the ACK: a slow
    /// control plane is not counted against Skiff.
    func shift(_ mesh: Mesh, traffic: TrafficLoop, version: String, blue: Int, green: Int) async throws {
        let pushed = ContinuousClock.now
        try await mesh.controlPlane.push(.route, version: version, [XDSResources.weightedRoute("local", [("blue", blue), ("green", green)])])
        try await mesh.controlPlane.waitForACK(.route, version: version)
        let acked = ContinuousClock.now
        #expect(acked - pushed < .seconds(5), "\(version) took \(acked - pushed) to be acknowledged")
        let settled = max(pushed + .seconds(1), acked + .milliseconds(50))
        try await Task.sleep(until: settled)
        try await traffic.waitForRequests(200, since: settled)
        let split = traffic.split(since: settled)
        let total = split.values.reduce(0, +)
        let blueShare = Double(split["blue", default: 0]) / Double(total)
        let expected = Double(blue) / Double(blue + green)
        #expect(abs(blueShare - expected) < 0.12, "after \(version): split \(split), expected blue \(expected)")
    }

    func stat(_ mesh: Mesh, _ name: String) async throws -> Int? {
        try await XDSTestsStat.value(mesh.proxy, name)
    }

    // MARK: State of the world

    @Test func initialConfigurationArrivesAndEveryResponseIsAcked() async throws {
        let mesh = try await startMesh()
        defer { Task { await mesh.stop() } }
        let client = try await RawClient(port: mesh.port, group: group)
        let response = try await client.get("/")
        #expect(response.status == 200)
        #expect(response.body == "hello from blue\n")
        await client.close()

        let cp = mesh.controlPlane
        let all = try await cp.requests()
        // The first request subscribes to clusters and names the node.
        let first = try #require(all.first)
        #expect(first["type_url"] as? String == XDSType.cluster.url)
        let node = first["node"] as? [String: Any]
        #expect(node?["id"] as? String == "test-node")
        #expect(node?["cluster"] as? String == "test-cluster")
        // LDS is requested only after CDS (and EDS) warmed, as Envoy does.
        let firstLDS = try #require(all.firstIndex { $0["type_url"] as? String == XDSType.listener.url })
        let cdsACK = try #require(all.firstIndex { $0["type_url"] as? String == XDSType.cluster.url && $0["version_info"] as? String == "v1" })
        let edsACK = try #require(all.firstIndex { $0["type_url"] as? String == XDSType.endpoint.url && $0["version_info"] as? String == "v1" })
        #expect(cdsACK < firstLDS && firstLDS < edsACK, "Envoy's order: the EDS response warms the clusters, LDS starts, then the EDS ACK")
        // Every type is ACKed with the version and the nonce it was sent.
        for type in [XDSType.cluster, .endpoint, .listener, .route] {
            let ack = try await cp.waitForRequest(type) { ($0["version_info"] as? String) == "v1" }
            #expect((ack["response_nonce"] as? String)?.isEmpty == false, "\(type) ACK without nonce")
            #expect(ack["error_detail"] == nil)
        }
        // EDS and RDS subscribe by name.
        let eds = try await cp.waitForRequest(.endpoint) { ($0["resource_names"] as? [String]) != nil }
        #expect(Set(eds["resource_names"] as? [String] ?? []) == ["blue", "green"])
        let rds = try await cp.waitForRequest(.route) { ($0["resource_names"] as? [String]) != nil }
        #expect(rds["resource_names"] as? [String] == ["local"])

        #expect(try await stat(mesh, "control_plane.connected_state") == 1)
        #expect(try await stat(mesh, "cluster_manager.cds.update_success") == 1)
        #expect(try await stat(mesh, "listener_manager.lds.update_success") == 1)
        #expect(try await stat(mesh, "http.ingress.rds.local.update_success") == 1)
        let ready = try await mesh.proxy.admin("/ready")
        #expect(ready.status == 200)
        let dump = try await mesh.proxy.admin("/config_dump").body
        #expect(dump.contains("\"dynamic_active_clusters\""))
        #expect(dump.contains("\"version_info\":\"v1\""))
        #expect(dump.contains("\"route_config\":{\"@type\":\"type.googleapis.com/envoy.config.route.v3.RouteConfiguration\""))
    }

    @Test func weightsShiftUnderTrafficWithNoFailedRequest() async throws {
        let mesh = try await startMesh()
        defer { Task { await mesh.stop() } }
        let traffic = TrafficLoop(port: mesh.port, connections: 3)
        try await traffic.waitForRequests(100, since: .now - .seconds(60))
        try await shift(mesh, traffic: traffic, version: "v2", blue: 50, green: 50)
        try await shift(mesh, traffic: traffic, version: "v3", blue: 0, green: 100)
        try await shift(mesh, traffic: traffic, version: "v4", blue: 100, green: 0)
        await traffic.stop()
        #expect(traffic.failures.isEmpty, "failed: \(traffic.failures.prefix(5).map(\.detail))")
        #expect(traffic.all.count > 600)
    }

    @Test func endpointsAddedAndRemovedUnderTrafficWithNoFailedRequest() async throws {
        let mesh = try await startMesh()
        defer { Task { await mesh.stop() } }
        let blue2 = try await TestUpstream.start("blue2", group: group)
        defer { Task { await blue2.close() } }
        let traffic = TrafficLoop(port: mesh.port, connections: 3)
        try await traffic.waitForRequests(100, since: .now - .seconds(60))
        let cp = mesh.controlPlane

        try await cp.push(.endpoint, version: "v2", [
            XDSResources.assignment("blue", ports: [mesh.blue.port, blue2.port]), XDSResources.assignment("green", ports: [mesh.green.port]),
        ])
        var settled = ContinuousClock.now + .seconds(1)
        try await Task.sleep(until: settled)
        try await traffic.waitForRequests(200, since: settled)
        var split = traffic.split(since: settled)
        #expect(split["blue2", default: 0] > 50, "new endpoint got no traffic: \(split)")
        #expect(split["blue", default: 0] > 50, "\(split)")

        try await cp.push(.endpoint, version: "v3", [
            XDSResources.assignment("blue", ports: [blue2.port]), XDSResources.assignment("green", ports: [mesh.green.port]),
        ])
        settled = ContinuousClock.now + .seconds(1)
        try await Task.sleep(until: settled)
        try await traffic.waitForRequests(200, since: settled)
        split = traffic.split(since: settled)
        #expect(split["blue", default: 0] == 0, "removed endpoint still used: \(split)")
        await traffic.stop()
        #expect(traffic.failures.isEmpty, "failed: \(traffic.failures.prefix(5).map(\.detail))")
    }

    @Test func invalidResourceIsNackedByNameWhileItsSiblingsApply() async throws {
        let mesh = try await startMesh()
        defer { Task { await mesh.stop() } }
        let cp = mesh.controlPlane
        let teal = try await TestUpstream.start("teal", group: group)
        defer { Task { await teal.close() } }
        let traffic = TrafficLoop(port: mesh.port, connections: 2)
        try await traffic.waitForRequests(50, since: .now - .seconds(60))

        // v2: a new valid cluster and one Envoy also rejects (a STATIC cluster with a host name).
        try await cp.push(.cluster, version: "v2", [
            XDSResources.edsCluster("blue"), XDSResources.edsCluster("green"),
            XDSResources.staticCluster("teal", ports: [teal.port]),
            XDSResources.staticCluster("broken", ports: [80], host: "not-an-ip.example"),
        ])
        let nack = try await cp.waitForRequest(.cluster) { $0["error_detail"] != nil }
        #expect(nack["version_info"] as? String == "v1", "a NACK echoes the last accepted version")
        #expect((nack["response_nonce"] as? String)?.isEmpty == false)
        let detail = nack["error_detail"] as? [String: Any]
        #expect(detail?["code"] as? Int == 13)
        let message = detail?["message"] as? String ?? ""
        #expect(message.contains("broken"), "\(message)")
        #expect(message.contains("socket_address.address"), "the field is named: \(message)")
        #expect(!message.contains("teal"))

        // The valid sibling applied: route to it.
        try await cp.push(.route, version: "v2", [XDSResources.weightedRoute("local", [("teal", 1)])])
        let settled = ContinuousClock.now + .seconds(1)
        try await Task.sleep(until: settled)
        try await traffic.waitForRequests(100, since: settled)
        let split = traffic.split(since: settled)
        #expect(split.keys.sorted() == ["teal"], "\(split)")
        await traffic.stop()
        #expect(traffic.failures.isEmpty, "failed: \(traffic.failures.prefix(5).map(\.detail))")
        #expect(try await stat(mesh, "cluster_manager.cds.update_rejected") == 1)
        let dump = try await mesh.proxy.admin("/config_dump").body
        #expect(dump.contains("\"last_nack\":{\"version_info\":\"v2\""))
        #expect(dump.contains("\"details\":\"cluster \\\"broken\\\": load_assignment.endpoints[0]"))
    }

    @Test func controlPlaneRestartLeavesTrafficAloneAndResubscribesWithVersions() async throws {
        let mesh = try await startMesh()
        defer { Task { await mesh.stop() } }
        let traffic = TrafficLoop(port: mesh.port, connections: 2)
        try await traffic.waitForRequests(50, since: .now - .seconds(60))

        mesh.controlPlane.stop()
        try await Task.sleep(for: .seconds(1))
        #expect(try await stat(mesh, "control_plane.connected_state") == 0)
        try await traffic.waitForRequests(100, since: .now)

        let restarted = try await ControlPlaneProcess(xdsPort: mesh.controlPlane.xdsPort)
        defer { restarted.stop() }
        // The new stream re-subscribes every type with the versions held.
        for type in [XDSType.cluster, .endpoint, .listener, .route] {
            let request = try await restarted.waitForRequest(type, timeout: .seconds(40)) { _ in true }
            #expect(request["version_info"] as? String == "v1", "\(type) re-subscribed without its version")
            #expect((request["response_nonce"] as? String ?? "").isEmpty)
        }
        let eds = try await restarted.waitForRequest(.endpoint) { _ in true }
        #expect(Set(eds["resource_names"] as? [String] ?? []) == ["blue", "green"])
        #expect(try await stat(mesh, "control_plane.connected_state") == 1)
        await traffic.stop()
        #expect(traffic.failures.isEmpty, "failed: \(traffic.failures.prefix(5).map(\.detail))")
    }

    @Test func listenerUpdateDrainsOnlyConnectionsOnChangedChains() async throws {
        let blue = try await TestUpstream.start("blue", group: group)
        let green = try await TestUpstream.start("green", group: group)
        defer { Task { await blue.close(); await green.close() } }
        let cp = try await ControlPlaneProcess()
        defer { cp.stop() }
        let port = try await freePort()
        try await cp.push(.cluster, version: "v1", [
            XDSResources.staticCluster("blue", ports: [blue.port]), XDSResources.staticCluster("green", ports: [green.port]),
        ])
        try await cp.push(.listener, version: "v1", [XDSResources.inlineListener("main", port: port, chains: [(nil, "blue", "a")])])
        let proxy = try await ProxyHarness.start(XDSResources.bootstrap(xdsPort: cp.xdsPort))
        defer { Task { await proxy.stop() } }
        try await waitForServing(port: port)

        let client = try await RawClient(port: port, group: group)
        #expect(try await client.get("/").body == "hello from blue\n")
        #expect(try await XDSTestsStat.value(proxy, "listener_manager.listener_added") == 1)
        #expect(try await XDSTestsStat.value(proxy, "listener_manager.listener_create_success") == 2, "one per worker")
        #expect(try await XDSTestsStat.value(proxy, "cluster_manager.cluster_added") == 2 + 1, "blue, green and the xds cluster")
        // v2 adds a chain for another port; the chain this connection runs is unchanged.
        try await cp.push(.listener, version: "v2", [
            XDSResources.inlineListener("main", port: port, chains: [(nil, "blue", "a"), (1, "green", "b")]),
        ])
        try await cp.waitForRequest(.listener) { ($0["version_info"] as? String) == "v2" }
        let untouched = try await client.get("/")
        #expect(untouched.body == "hello from blue\n")
        #expect(untouched.header("connection") != "close", "an unchanged chain must not drain")

        // v3 changes this chain: the connection finishes its request and closes; new ones get v3.
        try await cp.push(.listener, version: "v3", [
            XDSResources.inlineListener("main", port: port, chains: [(nil, "green", "a"), (1, "green", "b")]),
        ])
        try await cp.waitForRequest(.listener) { ($0["version_info"] as? String) == "v3" }
        let drained = try await client.get("/")
        #expect(drained.status == 200)
        #expect(drained.header("connection") == "close")
        await client.close()
        let fresh = try await RawClient(port: port, group: group)
        #expect(try await fresh.get("/").body == "hello from green\n")

        // v4 drops the listener: the port stops accepting, open connections drain and close
        // within the drain time (200 ms in the harness).
        try await cp.push(.listener, version: "v4", [])
        try await cp.waitForRequest(.listener) { ($0["version_info"] as? String) == "v4" }
        #expect(try await fresh.waitForClose(within: .seconds(5)))
        await fresh.close()
        await #expect(throws: (any Error).self) { _ = try await RawClient(port: port, group: group) }
        #expect(try await XDSTestsStat.value(proxy, "listener_manager.total_listeners_active") == 0)
        // Envoy's bookkeeping: two filter-chain updates in place, then a removal.
        #expect(try await XDSTestsStat.value(proxy, "listener_manager.listener_modified") == 2)
        #expect(try await XDSTestsStat.value(proxy, "listener_manager.listener_in_place_updated") == 2)
        #expect(try await XDSTestsStat.value(proxy, "listener_manager.listener_removed") == 1)
        #expect(try await XDSTestsStat.value(proxy, "listener_manager.listener_create_success") == 6)

        // Clusters: an identical re-send modifies nothing; a changed cluster is one modification.
        try await cp.push(.cluster, version: "v2", [
            XDSResources.staticCluster("blue", ports: [blue.port]), XDSResources.staticCluster("green", ports: [green.port]),
        ])
        try await cp.waitForRequest(.cluster) { ($0["version_info"] as? String) == "v2" }
        #expect(try await XDSTestsStat.value(proxy, "cluster_manager.cluster_modified") == 0)
        try await cp.push(.cluster, version: "v3", [
            XDSResources.staticCluster("blue", ports: [green.port]), XDSResources.staticCluster("green", ports: [green.port]),
        ])
        try await cp.waitForRequest(.cluster) { ($0["version_info"] as? String) == "v3" }
        #expect(try await XDSTestsStat.value(proxy, "cluster_manager.cluster_modified") == 1)
        #expect(try await XDSTestsStat.value(proxy, "cluster_manager.cluster_added") == 3)
    }

    @Test func readyWaitsForTheFirstClustersAndListeners() async throws {
        let blue = try await TestUpstream.start("blue", group: group)
        defer { Task { await blue.close() } }
        let cp = try await ControlPlaneProcess()
        defer { cp.stop() }
        let proxy = try await ProxyHarness.start(XDSResources.bootstrap(xdsPort: cp.xdsPort, fetchTimeout: "30s"))
        defer { Task { await proxy.stop() } }
        try await cp.waitForRequest(.cluster) { _ in true }
        try await Task.sleep(for: .milliseconds(600))
        let waiting = try await proxy.admin("/ready")
        #expect(waiting.status == 503)
        #expect(waiting.body == "INITIALIZING\n")
        #expect(try await cp.requests(of: .listener).isEmpty, "LDS waits for the first CDS response")

        let port = try await freePort()
        try await cp.push(.cluster, version: "c1", [XDSResources.staticCluster("blue", ports: [blue.port])])
        try await cp.waitForRequest(.listener) { _ in true }
        #expect(try await proxy.admin("/ready").status == 503)
        try await cp.push(.listener, version: "l1", [XDSResources.inlineListener("main", port: port, chains: [(nil, "blue", "r")])])
        try await waitForServing(port: port)
        #expect(try await proxy.admin("/ready").status == 200)
    }

    @Test func adsOverAUnixDomainSocketAsIstioAgentServesIt() async throws {
        let path = NSTemporaryDirectory() + "skiff-xds-\(UUID().uuidString.prefix(8)).sock"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let blue = try await TestUpstream.start("blue", group: group)
        defer { Task { await blue.close() } }
        let cp = try await ControlPlaneProcess(uds: path)
        defer { cp.stop() }
        let port = try await freePort()
        try await cp.push(.cluster, version: "u1", [XDSResources.staticCluster("blue", ports: [blue.port])])
        try await cp.push(.listener, version: "u1", [XDSResources.inlineListener("main", port: port, chains: [(nil, "blue", "uds")])])
        let proxy = try await ProxyHarness.start(XDSResources.bootstrap(xdsPort: 0, uds: path))
        defer { Task { await proxy.stop() } }
        try await waitForServing(port: port)
        try await cp.waitForRequest(.listener) { ($0["version_info"] as? String) == "u1" }
    }

    // MARK: Delta

    @Test func deltaADSDeliversShiftsNacksAndResumesWithVersions() async throws {
        let mesh = try await startMesh(apiType: "DELTA_GRPC")
        defer { Task { await mesh.stop() } }
        let cp = mesh.controlPlane
        let all = try await cp.requests()
        #expect(all.allSatisfy { $0["kind"] as? String == "delta" })
        let edsSubscribe = try await cp.waitForRequest(.endpoint) { ($0["resource_names_subscribe"] as? [String]) != nil }
        #expect(Set(edsSubscribe["resource_names_subscribe"] as? [String] ?? []) == ["blue", "green"])
        // ACKs carry the nonce and no error.
        let ack = try await cp.waitForRequest(.route) { ($0["response_nonce"] as? String)?.isEmpty == false }
        #expect(ack["error_detail"] == nil)

        let traffic = TrafficLoop(port: mesh.port, connections: 3)
        try await traffic.waitForRequests(100, since: .now - .seconds(60))
        try await shift(mesh, traffic: traffic, version: "v2", blue: 50, green: 50)
        try await shift(mesh, traffic: traffic, version: "v3", blue: 0, green: 100)

        // A bad cluster next to a good one: NACK names it, the good one applies.
        try await cp.push(.cluster, version: "v2", [
            XDSResources.edsCluster("blue"), XDSResources.edsCluster("green"),
            XDSResources.staticCluster("broken", ports: [80], host: "not-an-ip.example"),
        ])
        let nack = try await cp.waitForRequest(.cluster) { $0["error_detail"] != nil }
        let nackMessage = (nack["error_detail"] as? [String: Any])?["message"] as? String ?? ""
        #expect(nackMessage.contains("broken"))

        // Restart: the new stream names every resource version held.
        cp.stop()
        try await Task.sleep(for: .milliseconds(500))
        let restarted = try await ControlPlaneProcess(xdsPort: cp.xdsPort)
        defer { restarted.stop() }
        let resumed = try await restarted.waitForRequest(.cluster, timeout: .seconds(40)) { _ in true }
        let versions = resumed["initial_resource_versions"] as? [String: String] ?? [:]
        #expect(Set(versions.keys) == ["blue", "green"], "\(versions)")
        let routes = try await restarted.waitForRequest(.route) { _ in true }
        #expect((routes["initial_resource_versions"] as? [String: String])?.keys.contains("local") == true)
        try await traffic.waitForRequests(100, since: .now)
        await traffic.stop()
        #expect(traffic.failures.isEmpty, "failed: \(traffic.failures.prefix(5).map(\.detail))")
    }
}

enum XDSTestsStat {
    /// One statistic from `/stats`, nil when absent.
    static func value(_ proxy: ProxyHarness, _ name: String) async throws -> Int? {
        let body = try await proxy.admin("/stats").body
        for line in body.split(separator: "\n") where line.hasPrefix(name + ": ") {
            return Int(line.dropFirst(name.count + 2))
        }
        return nil
    }
}

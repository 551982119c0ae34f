import EnvoyAPI
import NIOCore
import SkiffConfig
import SkiffCore
import SwiftProtobuf
import Testing
@testable import SkiffXDS

/// The ADS rules, one by one, on the pure state machine (the integration tests run the same
/// rules against a real control plane).
struct ADSStateMachineTests {
    static func machine(_ mode: DynamicResourcesConfig.APIType = .stateOfTheWorld, timeout: TimeAmount? = .seconds(15)) -> ADSStateMachine {
        ADSStateMachine(
            mode: mode, initialFetchTimeout: timeout, staticClusters: ["xds"], staticListeners: [],
            cds: true, lds: true, now: 0
        )
    }

    static func cluster(_ name: String, eds: Bool = false, host: String = "127.0.0.1") throws -> Google_Protobuf_Any {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = name
        if eds {
            cluster.type = .eds
            cluster.edsClusterConfig.edsConfig.ads = .init()
        } else {
            cluster.type = .static
            cluster.loadAssignment = try assignmentMessage(name, ports: [8080], host: host)
        }
        return try Google_Protobuf_Any(message: cluster)
    }

    static func assignmentMessage(_ name: String, ports: [Int], host: String = "127.0.0.1") throws -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
        var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        assignment.clusterName = name
        var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        for port in ports {
            var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
            endpoint.endpoint.address.socketAddress.address = host
            endpoint.endpoint.address.socketAddress.portValue = UInt32(port)
            locality.lbEndpoints.append(endpoint)
        }
        assignment.endpoints = [locality]
        return assignment
    }

    static func assignment(_ name: String, ports: [Int]) throws -> Google_Protobuf_Any {
        try Google_Protobuf_Any(message: assignmentMessage(name, ports: ports))
    }

    static func listener(_ name: String, rds: String) throws -> Google_Protobuf_Any {
        var hcm = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager()
        hcm.statPrefix = "ingress"
        hcm.rds.routeConfigName = rds
        hcm.rds.configSource.ads = .init()
        var router = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
        router.name = "envoy.filters.http.router"
        router.typedConfig = try Google_Protobuf_Any(message: Envoy_Extensions_Filters_Http_Router_V3_Router())
        hcm.httpFilters = [router]
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = "envoy.filters.network.http_connection_manager"
        filter.typedConfig = try Google_Protobuf_Any(message: hcm)
        var listener = Envoy_Config_Listener_V3_Listener()
        listener.name = name
        listener.address.socketAddress.address = "127.0.0.1"
        listener.address.socketAddress.portValue = 10000
        listener.filterChains = [.with { $0.filters = [filter] }]
        return try Google_Protobuf_Any(message: listener)
    }

    static func route(_ name: String) throws -> Google_Protobuf_Any {
        var config = Envoy_Config_Route_V3_RouteConfiguration()
        config.name = name
        return try Google_Protobuf_Any(message: config)
    }

    static func sotw(_ type: XDSResourceType, _ version: String, nonce: String, _ resources: [Google_Protobuf_Any]) -> ADSStateMachine.Response {
        ADSStateMachine.Response(
            type: type, version: version, nonce: nonce, resources: resources.map { (nil, version, $0) },
            removed: [], complete: type.isWildcard
        )
    }

    /// Feeds a response and acknowledges it; returns the requests that go out.
    static func feed(_ machine: inout ADSStateMachine, _ response: ADSStateMachine.Response, now: Double = 1) -> (ADSStateMachine.Pending?, [XDSRequest]) {
        guard let pending = machine.receive(response, now: now) else { return (nil, []) }
        return (pending, machine.acknowledge(pending, now: now))
    }

    @Test func firstStreamAsksForClustersOnlyAndListenersAfterClustersWarm() throws {
        var machine = Self.machine()
        let initial = machine.streamStarted()
        #expect(initial.map(\.type) == [.cluster])
        let (_, afterCDS) = Self.feed(&machine, Self.sotw(.cluster, "1", nonce: "a", [try Self.cluster("web", eds: true)]))
        // The EDS subscription, then the ACK (Envoy's order); LDS waits for the cluster to warm.
        #expect(afterCDS.map(\.type) == [.endpoint, .cluster])
        #expect(afterCDS[1].versionInfo == "1" && afterCDS[1].nonce == "a" && afterCDS[1].errorDetail == nil)
        #expect(afterCDS[0].names == ["web"])
        let (pending, afterEDS) = Self.feed(&machine, Self.sotw(.endpoint, "1", nonce: "b", [try Self.assignment("web", ports: [1, 2])]))
        #expect(pending?.changes.upsertClusters.first?.endpoints.count == 2)
        #expect(afterEDS.map(\.type) == [.listener, .endpoint])
    }

    @Test func nothingStartsBeforeTheFirstResponseUntilTheFetchTimeout() throws {
        var machine = Self.machine(timeout: .seconds(5))
        _ = machine.streamStarted()
        let early = machine.tick(now: 1)
        #expect(early.requests.isEmpty, "LDS must wait for the first CDS response")
        #expect(!machine.initialized)
        let late = machine.tick(now: 6)
        #expect(late.requests.map(\.type) == [.listener])
        #expect(!machine.initialized, "LDS gets its own fetch timeout from when it started")
        #expect(machine.tick(now: 11).changes.initialized)
    }

    @Test func aBadResourceIsNackedWithThePreviousVersionWhileItsSiblingsApply() throws {
        var machine = Self.machine()
        _ = machine.streamStarted()
        _ = Self.feed(&machine, Self.sotw(.cluster, "1", nonce: "a", [try Self.cluster("web")]))
        let (pending, requests) = Self.feed(&machine, Self.sotw(.cluster, "2", nonce: "b", [
            try Self.cluster("web"), try Self.cluster("api"), try Self.cluster("bad", host: "not-an-ip"),
        ]))
        #expect(pending?.changes.upsertClusters.map(\.name).sorted() == ["api", "web"])
        let nack = try #require(requests.last)
        #expect(nack.versionInfo == "1")
        #expect(nack.nonce == "b")
        #expect(nack.errorDetail?.hasPrefix("cluster \"bad\": load_assignment.endpoints[0]") == true)
        #expect(machine.status[.cluster]?.lastRejection?.rejectedNames == ["bad"])
        #expect(machine.status[.cluster]?.updateRejected == 1)
        // The accepted siblings are held at the version they came in.
        #expect(machine.status[.cluster]?.resources["api"]?.version == "2")
    }

    @Test func aRepeatedNonceIsIgnoredAndMissingSotWResourcesAreRemoved() throws {
        var machine = Self.machine()
        _ = machine.streamStarted()
        _ = Self.feed(&machine, Self.sotw(.cluster, "1", nonce: "a", [try Self.cluster("web"), try Self.cluster("api")]))
        let (stale, _) = Self.feed(&machine, Self.sotw(.cluster, "1", nonce: "a", []))
        #expect(stale == nil)
        let (pending, _) = Self.feed(&machine, Self.sotw(.cluster, "2", nonce: "b", [try Self.cluster("web")]))
        #expect(pending?.changes.removeClusters == ["api"])
        #expect(pending?.changes.upsertClusters.map(\.name) == ["web"])
    }

    @Test func listenersWarmUntilTheirRoutesArriveOrTheFetchTimeoutPasses() throws {
        var machine = Self.machine(timeout: .seconds(5))
        _ = machine.streamStarted()
        _ = Self.feed(&machine, Self.sotw(.cluster, "1", nonce: "a", []))
        let (lds, requests) = Self.feed(&machine, Self.sotw(.listener, "1", nonce: "b", [try Self.listener("main", rds: "local")]), now: 3)
        #expect(lds?.changes.upsertListeners.isEmpty == true)
        #expect(requests.first?.type == .route && requests.first?.names == ["local"])
        #expect(machine.warmingListeners.keys.sorted() == ["main"])
        #expect(!machine.initialized)
        let (rds, _) = Self.feed(&machine, Self.sotw(.route, "1", nonce: "c", [try Self.route("local")]), now: 4)
        #expect(rds?.changes.routes.keys.sorted() == ["local"])
        #expect(rds?.changes.upsertListeners.map(\.name) == ["main"])
        #expect(machine.initialized)

        // A second listener whose routes never come starts serving at the fetch timeout.
        let (lds2, _) = Self.feed(&machine, Self.sotw(.listener, "2", nonce: "d", [
            try Self.listener("main", rds: "local"), try Self.listener("other", rds: "missing"),
        ]), now: 20)
        #expect(lds2?.changes.upsertListeners.isEmpty == true)
        #expect(machine.tick(now: 22).changes.upsertListeners.isEmpty)
        #expect(machine.tick(now: 25).changes.upsertListeners.map(\.name) == ["other"])
    }

    @Test func edsClustersWarmUntilTheirAssignmentArrives() throws {
        var machine = Self.machine(timeout: .seconds(5))
        _ = machine.streamStarted()
        let (cds, _) = Self.feed(&machine, Self.sotw(.cluster, "1", nonce: "a", [try Self.cluster("web", eds: true), try Self.cluster("api")]), now: 1)
        #expect(cds?.changes.upsertClusters.map(\.name) == ["api"])
        #expect(machine.warmingClusters.keys.sorted() == ["web"])
        let expired = machine.tick(now: 7)
        #expect(expired.changes.upsertClusters.map(\.name) == ["web"])
        #expect(expired.changes.upsertClusters.first?.endpoints.isEmpty == true)
        #expect(expired.requests.map(\.type) == [.listener])
    }

    @Test func aNewStreamResubscribesEveryTypeWithItsVersionsEvenAfterANack() throws {
        var machine = Self.machine()
        _ = machine.streamStarted()
        _ = Self.feed(&machine, Self.sotw(.cluster, "1", nonce: "a", [try Self.cluster("web", eds: true)]))
        _ = Self.feed(&machine, Self.sotw(.endpoint, "7", nonce: "b", [try Self.assignment("web", ports: [1])]))
        _ = Self.feed(&machine, Self.sotw(.cluster, "2", nonce: "c", [try Self.cluster("web", eds: true), try Self.cluster("bad", host: "nope")]))
        machine.streamFailed()
        let again = machine.streamStarted()
        #expect(again.map(\.type) == [.cluster, .endpoint, .listener])
        #expect(again[0].versionInfo == "1", "the last accepted CDS version, not the NACKed one")
        #expect(again[0].isInitial)
        #expect(again[1].versionInfo == "7" && again[1].names == ["web"])
        #expect(machine.status[.cluster]?.updateFailure == 1)
    }

    @Test func deltaResponsesAddAndRemoveByName() throws {
        var machine = Self.machine(.delta)
        _ = machine.streamStarted()
        let add = ADSStateMachine.Response(
            type: .cluster, version: "", nonce: "1",
            resources: [("web", "h1", try Self.cluster("web")), ("api", "h2", try Self.cluster("api"))], removed: [], complete: false
        )
        _ = Self.feed(&machine, add)
        let remove = ADSStateMachine.Response(type: .cluster, version: "", nonce: "2", resources: [], removed: ["api"], complete: false)
        let (pending, requests) = Self.feed(&machine, remove)
        #expect(pending?.changes.removeClusters == ["api"])
        #expect(requests.last?.isAck == true && requests.last?.nonce == "2")
        machine.streamFailed()
        let again = machine.streamStarted()
        #expect(again.first?.initialVersions == ["web": "h1"])
    }
}

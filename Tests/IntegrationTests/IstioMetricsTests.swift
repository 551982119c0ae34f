import Foundation
import NIOCore
import NIOPosix
import SkiffConfig
import SkiffCore
import SwiftProtobuf
import Testing

/// Istio's standard metrics from the `istio.stats` filter, as Istio configures it: an inbound
/// listener (reporter `destination`, the caller known from `x-envoy-peer-metadata`), an outbound
/// one (reporter `source`, the destination service from the Istio cluster name) and a TCP proxy.
@Suite(.serialized)
struct IstioMetricsTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static func listener(_ name: String, direction: String, filter: String) -> String {
        """
          - name: \(name)
            traffic_direction: \(direction)
            address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            filter_chains:
            - filters:
        \(Bootstrap.indented(filter, 6))
        """
    }

    static func hcm(cluster: String) -> String {
        """
        - name: envoy.filters.network.http_connection_manager
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
            stat_prefix: http
            route_config:
              virtual_hosts:
              - name: all
                domains: ["*"]
                routes:
                - match: { prefix: "/dead" }
                  route: { cluster: dead }
                - match: { prefix: "/" }
                  route: { cluster: "\(cluster)" }
            http_filters:
            - name: istio.stats
              typed_config:
                "@type": type.googleapis.com/udpa.type.v1.TypedStruct
                type_url: type.googleapis.com/stats.PluginConfig
                value: { disable_host_header_fallback: true }
            - name: envoy.filters.http.router
              typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
        """
    }

    static func bootstrap(app: Int, dead: Int) -> String {
        let tcp = """
            - name: istio.stats
              typed_config:
                "@type": type.googleapis.com/stats.PluginConfig
            - name: envoy.filters.network.tcp_proxy
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
                stat_prefix: tcp
                cluster: app
            """
        return """
            node:
              id: sidecar~10.0.0.7~reviews-v1-abc.shop~shop.svc.cluster.local
              cluster: reviews.shop
              metadata:
                NAME: reviews-v1-abc
                NAMESPACE: shop
                WORKLOAD_NAME: reviews-v1
                CLUSTER_ID: c1
                LABELS: { app: reviews, version: v1, service.istio.io/canonical-name: reviews }
            admin:
              address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
            static_resources:
              listeners:
            \(listener("inbound", direction: "INBOUND", filter: hcm(cluster: "app")))
            \(listener("outbound", direction: "OUTBOUND", filter: hcm(cluster: "outbound|9080||ratings.shop.svc.cluster.local")))
            \(listener("tcp", direction: "INBOUND", filter: tcp))
              clusters:
            \(Bootstrap.indented([
                Bootstrap.cluster("app", ports: [app]), Bootstrap.cluster("dead", ports: [dead]),
                Bootstrap.cluster("outbound|9080||ratings.shop.svc.cluster.local", ports: [app]),
            ].joined(separator: "\n"), 2))

            """
    }

    static func peerHeader() throws -> String {
        var labels = Google_Protobuf_Struct()
        labels.fields["app"] = Google_Protobuf_Value(stringValue: "productpage")
        labels.fields["version"] = Google_Protobuf_Value(stringValue: "v1")
        var value = Google_Protobuf_Struct()
        value.fields["NAMESPACE"] = Google_Protobuf_Value(stringValue: "shop")
        value.fields["WORKLOAD_NAME"] = Google_Protobuf_Value(stringValue: "productpage-v1")
        value.fields["CLUSTER_ID"] = Google_Protobuf_Value(stringValue: "c1")
        value.fields["LABELS"] = Google_Protobuf_Value(structValue: labels)
        let bytes: Data = try value.serializedBytes()
        return bytes.base64EncodedString()
    }

    /// Two sidecars: productpage's outbound listener calls reviews' inbound one. Each learns the
    /// other from the metadata exchange headers, which the application never sees.
    @Test func twoSidecarsLabelEachOther() async throws {
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let dead = try refusingPort()
        let reviews = try await ProxyHarness.start(Self.bootstrap(app: app.port, dead: dead))
        let productpage = try await ProxyHarness.start(Self.bootstrap(app: reviews.port("inbound"), dead: dead)
            .replacingOccurrences(of: "reviews-v1", with: "productpage-v1")
            .replacingOccurrences(of: "app: reviews", with: "app: productpage")
            .replacingOccurrences(of: "canonical-name: reviews", with: "canonical-name: productpage"))
        let client = try await productpage.client("outbound")
        for _ in 0..<2 {
            let response = try await client.get("/reviews/1", host: "reviews.shop.svc.cluster.local:9080")
            #expect(response.status == 200)
            #expect(response.header("x-envoy-peer-metadata") == nil, "the caller's sidecar removes the exchange headers")
        }
        await client.close()
        #expect(app.requests.allSatisfy { !$0.headers.contains(name: "x-envoy-peer-metadata") }, "the application never sees them")
        let callerSide = try await productpage.admin("/stats/prometheus").body
            .split(separator: "\n").first { $0.hasPrefix("istio_requests_total{reporter=\"source\"") } ?? ""
        #expect(callerSide.contains(#"source_workload="productpage-v1""#))
        #expect(callerSide.contains(#"destination_workload="reviews-v1",destination_workload_namespace="shop""#), "\(callerSide)")
        #expect(callerSide.contains(#"destination_app="reviews""#))
        #expect(callerSide.hasSuffix(" 2"))
        let serverSide = try await reviews.admin("/stats/prometheus").body
            .split(separator: "\n").first { $0.hasPrefix("istio_requests_total{reporter=\"destination\"") } ?? ""
        #expect(serverSide.contains(#"source_workload="productpage-v1",source_canonical_service="productpage""#), "\(serverSide)")
        #expect(serverSide.contains(#"destination_workload="reviews-v1""#))
        #expect(serverSide.hasSuffix(" 2"))
        await productpage.stop()
        await reviews.stop()
    }

    @Test func standardMetricsWithIstiosLabels() async throws {
        let app = try await TestUpstream.start("app", group: group)
        defer { Task { await app.close() } }
        let proxy = try await ProxyHarness.start(Self.bootstrap(app: app.port, dead: try refusingPort()))
        let peer = try Self.peerHeader()

        let inbound = try await proxy.client("inbound")
        for _ in 0..<3 {
            let response = try await inbound.get("/reviews/1", headers: [("x-envoy-peer-metadata", peer)], host: "reviews.shop.svc.cluster.local:9080")
            #expect(response.status == 200)
        }
        #expect(try await inbound.get("/dead", headers: [("x-envoy-peer-metadata", peer)], host: "reviews.shop.svc.cluster.local:9080").status == 503)
        await inbound.close()
        let outbound = try await proxy.client("outbound")
        for _ in 0..<2 { #expect(try await outbound.get("/ratings/1", host: "ratings.shop.svc.cluster.local:9080").status == 200) }
        await outbound.close()
        let tcp = try await proxy.client("tcp")
        _ = try await tcp.get("/over-tcp")
        await tcp.close()

        var text = ""
        for _ in 0..<50 {
            text = try await proxy.admin("/stats/prometheus").body
            // The TCP series exist from the connection's start; wait for its close to be counted.
            if text.split(separator: "\n").contains(where: { $0.hasPrefix("istio_tcp_connections_closed_total{") && $0.hasSuffix(" 1") }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let source = #"source_workload="productpage-v1",source_canonical_service="productpage",source_canonical_revision="v1",source_workload_namespace="shop",source_principal="unknown",source_app="productpage",source_version="v1",source_cluster="c1""#
        let destination = #"destination_workload="reviews-v1",destination_workload_namespace="shop",destination_principal="unknown",destination_app="reviews",destination_version="v1",destination_service="reviews.shop.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v1",destination_service_name="reviews",destination_service_namespace="shop",destination_cluster="c1""#
        let inbound200 = #"{reporter="destination","# + source + "," + destination
            + #",request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="none"}"#
        #expect(text.contains("# TYPE istio_requests_total counter\n"))
        #expect(text.contains("istio_requests_total" + inbound200 + " 3\n"), "\(text.split(separator: "\n").filter { $0.hasPrefix("istio_requests_total") })")
        #expect(text.contains("istio_request_duration_milliseconds_count" + inbound200 + " 3\n"))
        #expect(text.contains("# TYPE istio_request_duration_milliseconds histogram\n"))
        #expect(text.contains(#"response_code="503",grpc_response_status="",response_flags="UF""#))
        let outboundLine = text.split(separator: "\n").first { $0.hasPrefix("istio_requests_total{reporter=\"source\"") }
        #expect(outboundLine?.contains(#"source_workload="reviews-v1""#) == true)
        #expect(outboundLine?.contains(#"destination_service="ratings.shop.svc.cluster.local",destination_canonical_service="unknown""#) == true)
        #expect(outboundLine?.contains(#"destination_service_name="ratings",destination_service_namespace="shop""#) == true)
        #expect(outboundLine?.hasSuffix(" 2") == true)
        let opened = text.split(separator: "\n").first { $0.hasPrefix("istio_tcp_connections_opened_total{") }
        #expect(opened?.contains(#"reporter="destination""#) == true && opened?.hasSuffix(" 1") == true)
        let received = text.split(separator: "\n").first { $0.hasPrefix("istio_tcp_received_bytes_total{") }
        #expect(received.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 > 20 } == true)

        if PrometheusServer.promtool != nil {
            let (status, output) = try await PrometheusServer.checkMetrics(text)
            #expect(status == 0 || status == 3, "\(output.prefix(500))")
            #expect(!output.contains("error while linting"), "\(output.prefix(500))")
        }
        await proxy.stop()
    }
}

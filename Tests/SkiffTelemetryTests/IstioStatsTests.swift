import SkiffCore
@testable import SkiffTelemetry
import SwiftProtobuf
import Testing

struct IstioStatsTests {
    static func peerHeader(_ fields: [String: String], labels: [String: String]) throws -> String {
        var value = Google_Protobuf_Struct()
        for (key, text) in fields { value.fields[key] = Google_Protobuf_Value(stringValue: text) }
        var nested = Google_Protobuf_Struct()
        for (key, text) in labels { nested.fields[key] = Google_Protobuf_Value(stringValue: text) }
        value.fields["LABELS"] = Google_Protobuf_Value(structValue: nested)
        value.fields["PLATFORM_METADATA"] = Google_Protobuf_Value(numberValue: 3)
        let bytes: [UInt8] = try value.serializedBytes()
        return Self.base64(bytes)
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let n = (UInt32(chunk[0]) << 16) | (chunk.count > 1 ? UInt32(chunk[1]) << 8 : 0) | (chunk.count > 2 ? UInt32(chunk[2]) : 0)
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[Int((n >> (18 - 6 * UInt32(position))) & 63)] : "=")
            }
            index += 3
        }
        return out
    }

    @Test func peerMetadataFromTheExchangeHeader() throws {
        let header = try Self.peerHeader(
            ["NAME": "productpage-v1-abc", "NAMESPACE": "shop", "WORKLOAD_NAME": "productpage-v1", "CLUSTER_ID": "c1"],
            labels: ["app": "productpage", "version": "v1", "service.istio.io/canonical-name": "productpage"]
        )
        let peer = try #require(PeerMetadata.decode(header))
        #expect(peer.workload == "productpage-v1")
        #expect(peer.namespace == "shop")
        #expect(peer.cluster == "c1")
        #expect(peer.app == "productpage")
        #expect(peer.version == "v1")
        #expect(peer.canonicalService == "productpage")
        #expect(PeerMetadata.decode("not base64 !") == nil)
        #expect(PeerMetadata.decode("AAAA") == nil)
        #expect(PeerMetadata.decode(String(repeating: "A", count: 20_000)) == nil, "oversized headers are ignored")
    }

    /// What Skiff sends decodes as a protobuf Struct (checked with SwiftProtobuf) and back to the
    /// same metadata.
    @Test func ownMetadataEncodesAsAStruct() throws {
        var meta = IstioMetadata()
        meta.workload = "reviews-v1"
        meta.namespace = "shop"
        meta.cluster = "c1"
        meta.app = "reviews"
        meta.version = "v1"
        meta.canonicalService = "reviews"
        meta.canonicalRevision = "v1"
        let header = PeerMetadata.encode(meta)
        #expect(PeerMetadata.decode(header) == meta)
        let bytes = try #require(PeerMetadata.base64(header))
        let decoded = try Google_Protobuf_Struct(serializedBytes: bytes)
        #expect(decoded.fields["WORKLOAD_NAME"]?.stringValue == "reviews-v1")
        #expect(decoded.fields["LABELS"]?.structValue.fields["app"]?.stringValue == "reviews")
    }

    @Test func serviceNamesFromClustersAndHosts() {
        #expect(IstioServiceName.fromCluster("outbound|9080||ratings.shop.svc.cluster.local")! == ("ratings.shop.svc.cluster.local", "ratings", "shop"))
        #expect(IstioServiceName.fromCluster("app") == nil)
        #expect(IstioServiceName.fromHost("reviews.shop.svc.cluster.local:9080", namespace: "x") == ("reviews.shop.svc.cluster.local", "reviews", "shop"))
        #expect(IstioServiceName.fromHost("example.com", namespace: "shop") == ("example.com", "example", "shop"))
    }

    @Test func seriesAreBounded() {
        let stats = IstioStats()
        var labels = IstioStats.Labels(
            reporter: .destination, source: IstioMetadata(), sourcePrincipal: "unknown", destination: IstioMetadata(),
            destinationPrincipal: "unknown", destinationService: "s", destinationServiceName: "s", destinationServiceNamespace: "n",
            requestProtocol: "http", responseCode: "200", grpcResponseStatus: "", responseFlags: "-", connectionSecurityPolicy: "none"
        )
        for n in 0..<(IstioStats.maxSeries + 5) {
            labels.source.workload = "w\(n)"
            stats.recordRequest(labels, durationMs: 1, requestBytes: 0, responseBytes: 0)
        }
        #expect(stats.overflow == 5)
        #expect(stats.samples().filter { $0.suffix == "istio_requests_total" }.count == IstioStats.maxSeries)
    }
}

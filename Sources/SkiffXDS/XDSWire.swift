import EnvoyAPI
import SwiftProtobuf

/// Encodes `XDSRequest`s and decodes responses for the two ADS variants.
enum XDSWire {
    static let service = "envoy.service.discovery.v3.AggregatedDiscoveryService"
    /// `google.rpc.Code.INTERNAL`, which Envoy puts in every NACK's `error_detail`.
    static let nackCode: Int32 = 13

    static func sotw(_ request: XDSRequest, node: Envoy_Config_Core_V3_Node?) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
        var out = Envoy_Service_Discovery_V3_DiscoveryRequest()
        if let node { out.node = node }
        out.typeURL = request.type.typeURL
        out.versionInfo = request.versionInfo
        out.responseNonce = request.isInitial ? "" : request.nonce
        out.resourceNames = request.names
        if let detail = request.errorDetail {
            out.errorDetail = .with { $0.code = nackCode; $0.message = detail }
        }
        return out
    }

    static func delta(_ request: XDSRequest, node: Envoy_Config_Core_V3_Node?) -> Envoy_Service_Discovery_V3_DeltaDiscoveryRequest {
        var out = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        if let node { out.node = node }
        out.typeURL = request.type.typeURL
        if request.isAck {
            out.responseNonce = request.nonce
        } else {
            out.resourceNamesSubscribe = request.subscribe
            out.resourceNamesUnsubscribe = request.unsubscribe
        }
        if request.isInitial {
            out.initialResourceVersions = request.initialVersions
        }
        if let detail = request.errorDetail {
            out.errorDetail = .with { $0.code = nackCode; $0.message = detail }
        }
        return out
    }

    static func response(_ message: Envoy_Service_Discovery_V3_DiscoveryResponse) -> ADSStateMachine.Response? {
        guard let type = XDSResourceType(typeURL: message.typeURL) else { return nil }
        return ADSStateMachine.Response(
            type: type, version: message.versionInfo, nonce: message.nonce,
            resources: message.resources.map { (name: nil, version: message.versionInfo, resource: $0) },
            removed: [], complete: type.isWildcard
        )
    }

    static func response(_ message: Envoy_Service_Discovery_V3_DeltaDiscoveryResponse) -> ADSStateMachine.Response? {
        guard let type = XDSResourceType(typeURL: message.typeURL) else { return nil }
        return ADSStateMachine.Response(
            type: type, version: message.systemVersionInfo, nonce: message.nonce,
            resources: message.resources.map { (name: $0.name.isEmpty ? nil : $0.name, version: $0.version, resource: $0.resource) },
            removed: message.removedResources, complete: false
        )
    }
}

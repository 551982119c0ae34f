import SwiftProtobuf

/// One resource as last accepted from the control plane, for `/config_dump`.
public struct XDSResourceRecord: Sendable {
    public var name: String
    /// The response's `version_info` (SotW) or the resource's own `version` (Delta).
    public var version: String
    /// Wall-clock seconds when it was accepted.
    public var lastUpdated: Double
    /// The resource as received (`google.protobuf.Any`).
    public var resource: Google_Protobuf_Any
}

/// The last rejected response of one type: what a NACK said.
public struct XDSRejection: Sendable, Equatable {
    /// The version the control plane offered and Skiff rejected (all or in part).
    public var version: String
    public var nonce: String
    /// Every rejected resource and why, one per line.
    public var reason: String
    public var time: Double
    /// Names of the rejected resources.
    public var rejectedNames: [String]
}

/// What Skiff holds for one resource type.
public struct XDSTypeStatus: Sendable {
    /// The last version accepted in full (SotW `version_info`; Delta `system_version_info`).
    public var version = ""
    /// The nonce of the last response processed.
    public var nonce = ""
    public var resources: [String: XDSResourceRecord] = [:]
    public var lastRejection: XDSRejection?
    public var updateAttempt: Int64 = 0
    public var updateSuccess: Int64 = 0
    public var updateRejected: Int64 = 0
    /// Stream failures while this type was subscribed (Envoy's `update_failure`).
    public var updateFailure: Int64 = 0
    /// Per resource name: accepted and rejected updates (EDS and RDS stats are per resource).
    public var perResourceSuccess: [String: Int64] = [:]
    public var perResourceRejected: [String: Int64] = [:]
    /// Accepted updates of a resource already held, with different contents (Envoy's
    /// `cluster_manager.cluster_modified` for clusters; an identical re-send is not counted).
    public var modified: Int64 = 0

    public init() {}
}

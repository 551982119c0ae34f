import EnvoyAPI
import NIOCore
import SkiffConfig
import SkiffCore
import SwiftProtobuf

/// The ADS protocol as a pure state machine: responses in, configuration changes and requests
/// out. No I/O, no clock of its own (`now` is passed in), so every rule is testable.
///
/// Rules, as Envoy implements them except where noted:
/// - An ACK echoes the response's version and nonce; a NACK echoes the nonce, the last version
///   accepted in full, and `error_detail` (code 13) naming every rejected resource and field.
/// - Better than Envoy (gRFC A46): the valid resources of a response apply even when siblings
///   are rejected; rejected ones keep their previous version.
/// - SotW LDS/CDS responses are complete sets: a resource missing from one is removed. RDS, EDS
///   and SDS are named subscriptions, following the listeners and clusters that name them.
/// - Warming: an EDS cluster is not used until its assignment arrives, a listener until all its
///   route configurations arrive, or until `initial_fetch_timeout`; an update keeps the previous
///   version serving while the new one warms. LDS is first requested once CDS has warmed.
/// - A response whose nonce was already processed is ignored.
/// - On a new stream every subscribed type is requested again with the versions held, including
///   after a NACK (better than Envoy's issues 34334 / 36951).
public struct ADSStateMachine {
    public let mode: DynamicResourcesConfig.APIType
    let fetchTimeout: Double?
    let staticClusters: Set<String>
    let staticListeners: Set<String>
    let cdsEnabled: Bool
    let ldsEnabled: Bool

    public private(set) var status: [XDSResourceType: XDSTypeStatus] = [:]
    /// Names subscribed per type (non-wildcard types).
    private(set) var names: [XDSResourceType: Set<String>] = [:]
    /// Types requested on the current stream.
    private var requestedOnStream: Set<XDSResourceType> = []

    public private(set) var clusters: [String: ClusterConfig] = [:]
    public private(set) var assignments: [String: [EndpointConfig]] = [:]
    public private(set) var listeners: [String: ListenerConfig] = [:]
    public private(set) var routes: [String: RouteTable] = [:]
    public private(set) var secrets: [String: TLSSecret] = [:]
    /// Secrets delivered by their own SDS source (not this stream), by name.
    public private(set) var externalSecrets: Set<String> = []
    /// Active = handed to the proxy.
    public private(set) var activeClusters: Set<String> = []
    public private(set) var activeListeners: Set<String> = []
    /// Warming: name → since (seconds).
    public private(set) var warmingClusters: [String: Double] = [:]
    public private(set) var warmingListeners: [String: Double] = [:]

    private var ldsStarted = false
    /// Types that have had at least one response (initialization waits for CDS and LDS).
    private var answered: Set<XDSResourceType> = []
    private var ldsStartedAt: Double = 0
    private var cdsWarmed = false
    public private(set) var initialized = false
    private let createdAt: Double

    /// What the proxy must do after a response or a timer.
    public struct Changes: Sendable {
        public var upsertClusters: [ClusterConfig] = []
        public var removeClusters: [String] = []
        public var routes: [String: RouteTable] = [:]
        /// SDS secrets that arrived or changed; applied before the clusters and listeners.
        public var secrets: [String: TLSSecret] = [:]
        /// Secret names with their own SDS source that received clusters and listeners need, by
        /// source cluster: subscribed there at once, since those resources warm until they arrive.
        public var externalSDS: [String: Set<String>] = [:]
        public var upsertListeners: [ListenerConfig] = []
        public var removeListeners: [String] = []
        /// Initial configuration is complete (first CDS and LDS warmed or timed out).
        public var initialized = false

        public var isEmpty: Bool {
            upsertClusters.isEmpty && removeClusters.isEmpty && routes.isEmpty && upsertListeners.isEmpty && secrets.isEmpty
                && externalSDS.isEmpty
                && removeListeners.isEmpty && !initialized
        }
    }

    /// A response decoded from the wire, SotW or Delta.
    public struct Response: Sendable {
        public var type: XDSResourceType
        public var version: String
        public var nonce: String
        /// Delta resources carry their own name and version; SotW ones only the response's.
        public var resources: [(name: String?, version: String, resource: Google_Protobuf_Any)]
        public var removed: [String]
        /// SotW LDS/CDS: resources absent from this response are removed.
        public var complete: Bool

        public init(
            type: XDSResourceType, version: String, nonce: String,
            resources: [(name: String?, version: String, resource: Google_Protobuf_Any)], removed: [String], complete: Bool
        ) {
            self.type = type
            self.version = version
            self.nonce = nonce
            self.resources = resources
            self.removed = removed
            self.complete = complete
        }
    }

    /// A response processed but not yet acknowledged: the proxy applies `changes` first, adds
    /// any failure of its own (a listener that cannot bind), then `acknowledge`s.
    public struct Pending: Sendable {
        public var type: XDSResourceType
        public var version: String
        public var nonce: String
        public var errors: [(name: String, reason: String)]
        public var changes: Changes
        /// Subscription requests to send after the ACK (EDS after CDS, RDS after LDS).
        var followUps: [XDSResourceType]
    }

    public init(
        mode: DynamicResourcesConfig.APIType, initialFetchTimeout: TimeAmount?, staticClusters: Set<String>,
        staticListeners: Set<String>, cds: Bool, lds: Bool, now: Double
    ) {
        self.mode = mode
        self.fetchTimeout = initialFetchTimeout.map { Double($0.nanoseconds) / 1e9 }
        self.staticClusters = staticClusters
        self.staticListeners = staticListeners
        self.cdsEnabled = cds
        self.ldsEnabled = lds
        self.createdAt = now
        for type in XDSResourceType.allCases {
            status[type] = XDSTypeStatus()
        }
        if !cds {
            cdsWarmed = true
            ldsStarted = lds
            ldsStartedAt = now
        }
    }

    // MARK: Streams

    /// A new stream is up: the requests that (re)subscribe every type Skiff follows, in order,
    /// with the versions held.
    public mutating func streamStarted() -> [XDSRequest] {
        requestedOnStream = []
        var out: [XDSRequest] = []
        for type in XDSResourceType.allCases where shouldRequest(type) {
            out.append(initialRequest(type))
        }
        return out
    }

    /// The stream failed: counts `update_failure` for every subscribed type.
    public mutating func streamFailed() {
        for type in requestedOnStream {
            status[type]?.updateFailure += 1
        }
        requestedOnStream = []
    }

    private func shouldRequest(_ type: XDSResourceType) -> Bool {
        switch type {
        case .cluster: return cdsEnabled
        case .listener: return ldsEnabled && ldsStarted
        default: return !(names[type] ?? []).isEmpty
        }
    }

    private mutating func initialRequest(_ type: XDSResourceType) -> XDSRequest {
        requestedOnStream.insert(type)
        status[type]?.updateAttempt += 1
        let state = status[type] ?? XDSTypeStatus()
        var request = XDSRequest(type: type)
        request.names = type.isWildcard ? [] : (names[type] ?? []).sorted()
        request.versionInfo = state.version
        request.initialVersions = state.resources.mapValues(\.version)
        request.subscribe = request.names
        request.isInitial = true
        return request
    }

    // MARK: Responses

    /// Processes one response. Nil means it is ignored (a nonce already processed, a type never
    /// subscribed to).
    public mutating func receive(_ response: Response, now: Double) -> Pending? {
        guard var state = status[response.type] else { return nil }
        if !response.nonce.isEmpty, response.nonce == state.nonce {
            return nil
        }
        state.nonce = response.nonce
        state.updateAttempt += 1
        answered.insert(response.type)
        status[response.type] = state

        var errors: [(String, String)] = []
        var changes = Changes()
        var followUps: [XDSResourceType] = []
        switch response.type {
        case .cluster:
            receiveClusters(response, now: now, errors: &errors, changes: &changes)
            followUps = updateNames(.endpoint, to: desiredEDSNames())
            followUps += updateNames(.secret, to: desiredSDSNames())
            changes.externalSDS = desiredExternalSDS()
        case .endpoint:
            receiveAssignments(response, now: now, errors: &errors, changes: &changes)
        case .listener:
            receiveListeners(response, now: now, errors: &errors, changes: &changes)
            followUps = updateNames(.route, to: desiredRDSNames())
            followUps += updateNames(.secret, to: desiredSDSNames())
            changes.externalSDS = desiredExternalSDS()
        case .route:
            receiveRoutes(response, now: now, errors: &errors, changes: &changes)
        case .secret:
            receiveSecrets(response, now: now, errors: &errors, changes: &changes)
        }
        followUps += progressInitialization(now: now, changes: &changes)
        return Pending(
            type: response.type, version: response.version, nonce: response.nonce,
            errors: errors.map { (name: $0.0, reason: $0.1) }, changes: changes, followUps: followUps
        )
    }

    /// Any subscription changes a processed response caused, then its ACK or NACK — Envoy's
    /// order: the EDS request a CDS response triggers goes out before the CDS ACK.
    public mutating func acknowledge(_ pending: Pending, extraErrors: [(name: String, reason: String)] = [], now: Double) -> [XDSRequest] {
        let errors = pending.errors + extraErrors
        var state = status[pending.type] ?? XDSTypeStatus()
        var ack = XDSRequest(type: pending.type)
        ack.nonce = pending.nonce
        ack.isAck = true
        if errors.isEmpty {
            state.version = pending.version
            state.updateSuccess += 1
        } else {
            state.updateRejected += 1
            let reason = errors.map { "\(pending.type.resourceWord) \"\($0.name)\": \($0.reason)" }.joined(separator: "\n")
            state.lastRejection = XDSRejection(
                version: pending.version, nonce: pending.nonce, reason: reason, time: now, rejectedNames: errors.map(\.name)
            )
            ack.errorDetail = reason
            for error in errors {
                state.perResourceRejected[error.name, default: 0] += 1
            }
        }
        ack.versionInfo = state.version
        ack.names = pending.type.isWildcard ? [] : (names[pending.type] ?? []).sorted()
        status[pending.type] = state
        var out: [XDSRequest] = []
        for type in pending.followUps {
            out.append(subscriptionRequest(type))
        }
        out.append(ack)
        return out
    }

    // MARK: Per type

    private mutating func receiveClusters(_ response: Response, now: Double, errors: inout [(String, String)], changes: inout Changes) {
        var present = Set<String>()
        for item in response.resources {
            guard let (cluster, name) = decodeNamed(item, as: .cluster, name: { (c: Envoy_Config_Cluster_V3_Cluster) in c.name }, errors: &errors) else {
                continue
            }
            present.insert(name)
            if staticClusters.contains(name) {
                errors.append((name, "a static cluster of the same name exists; static clusters cannot be replaced over CDS"))
                continue
            }
            do {
                let config = try ResourceTranslator.cluster(cluster)
                clusters[name] = config
                record(.cluster, name: name, version: item.version, resource: item.resource, now: now)
                if !clusterReady(config) {
                    // Warms until its assignment and secrets arrive; a serving cluster keeps its
                    // hosts meanwhile.
                    warmingClusters[name] = warmingClusters[name] ?? now
                } else {
                    warmingClusters.removeValue(forKey: name)
                    activeClusters.insert(name)
                    changes.upsertClusters.append(withEndpoints(config))
                }
            } catch {
                errors.append((name, "\(error)"))
            }
        }
        let removed = response.complete ? Set(clusters.keys).subtracting(present) : Set(response.removed)
        for name in removed where clusters[name] != nil {
            clusters.removeValue(forKey: name)
            warmingClusters.removeValue(forKey: name)
            status[.cluster]?.resources.removeValue(forKey: name)
            if activeClusters.remove(name) != nil {
                changes.removeClusters.append(name)
            }
        }
    }

    private mutating func receiveAssignments(_ response: Response, now: Double, errors: inout [(String, String)], changes: inout Changes) {
        var updated = Set<String>()
        for item in response.resources {
            guard let (assignment, name) = decodeNamed(
                item, as: .endpoint, name: { (a: Envoy_Config_Endpoint_V3_ClusterLoadAssignment) in a.clusterName }, errors: &errors
            ) else { continue }
            do {
                assignments[name] = try ResourceTranslator.endpoints(assignment)
                record(.endpoint, name: name, version: item.version, resource: item.resource, now: now)
                updated.insert(name)
            } catch {
                errors.append((name, "\(error)"))
            }
        }
        // A removed assignment leaves its clusters' hosts as they are: better stale than empty.
        for name in response.removed {
            status[.endpoint]?.resources.removeValue(forKey: name)
        }
        for (name, config) in clusters.sorted(by: { $0.key < $1.key }) {
            guard let service = config.edsServiceName, updated.contains(service), clusterReady(config) else { continue }
            warmingClusters.removeValue(forKey: name)
            activeClusters.insert(name)
            changes.upsertClusters.append(withEndpoints(config))
        }
    }

    private mutating func receiveListeners(_ response: Response, now: Double, errors: inout [(String, String)], changes: inout Changes) {
        var present = Set<String>()
        for item in response.resources {
            guard let (listener, name) = decodeNamed(item, as: .listener, name: { (l: Envoy_Config_Listener_V3_Listener) in l.name }, errors: &errors) else {
                continue
            }
            present.insert(name)
            if staticListeners.contains(name) {
                errors.append((name, "a static listener of the same name exists"))
                continue
            }
            if name.isEmpty {
                errors.append((name, "name: a dynamic listener needs a name"))
                continue
            }
            do {
                let config = try ResourceTranslator.listener(listener)
                if let previous = status[.listener]?.resources[name], previous.resource == item.resource, activeListeners.contains(name) {
                    record(.listener, name: name, version: item.version, resource: item.resource, now: now)
                    continue  // unchanged: nothing to do
                }
                listeners[name] = config
                record(.listener, name: name, version: item.version, resource: item.resource, now: now)
                if listenerReady(config) {
                    warmingListeners.removeValue(forKey: name)
                    activeListeners.insert(name)
                    changes.upsertListeners.append(config)
                } else {
                    warmingListeners[name] = warmingListeners[name] ?? now
                }
            } catch {
                errors.append((name, "\(error)"))
            }
        }
        let removed = response.complete ? Set(listeners.keys).subtracting(present) : Set(response.removed)
        for name in removed where listeners[name] != nil {
            listeners.removeValue(forKey: name)
            warmingListeners.removeValue(forKey: name)
            status[.listener]?.resources.removeValue(forKey: name)
            if activeListeners.remove(name) != nil {
                changes.removeListeners.append(name)
            }
        }
    }

    private mutating func receiveRoutes(_ response: Response, now: Double, errors: inout [(String, String)], changes: inout Changes) {
        for item in response.resources {
            guard let (route, name) = decodeNamed(item, as: .route, name: { (r: Envoy_Config_Route_V3_RouteConfiguration) in r.name }, errors: &errors) else {
                continue
            }
            do {
                let table = try ResourceTranslator.routeConfiguration(route)
                routes[name] = table
                changes.routes[name] = table
                record(.route, name: name, version: item.version, resource: item.resource, now: now)
            } catch {
                errors.append((name, "\(error)"))
            }
        }
        for name in response.removed {
            status[.route]?.resources.removeValue(forKey: name)
        }
        for (name, _) in warmingListeners.sorted(by: { $0.key < $1.key }) {
            guard let config = listeners[name], listenerReady(config) else { continue }
            warmingListeners.removeValue(forKey: name)
            activeListeners.insert(name)
            changes.upsertListeners.append(config)
        }
    }

    /// SDS: certificates and trust bundles for the TLS contexts that name them. Warming clusters
    /// and listeners whose secrets are now all in start serving.
    private mutating func receiveSecrets(_ response: Response, now: Double, errors: inout [(String, String)], changes: inout Changes) {
        for item in response.resources {
            guard let (secret, name) = decodeNamed(
                item, as: .secret, name: { (s: Envoy_Extensions_TransportSockets_Tls_V3_Secret) in s.name }, errors: &errors
            ) else { continue }
            do {
                let translated = try ResourceTranslator.secret(secret)
                secrets[name] = translated
                changes.secrets[name] = translated
                record(.secret, name: name, version: item.version, resource: item.resource, now: now)
            } catch {
                errors.append((name, "\(error)"))
            }
        }
        // A removed secret stays in use by the contexts built from it: better than failing TLS.
        for name in response.removed {
            status[.secret]?.resources.removeValue(forKey: name)
        }
        activateReady(&changes)
    }

    // MARK: Timers

    /// Initial fetch timeouts: warming resources older than the timeout start serving with what
    /// they have (an EDS cluster with no hosts answers 503 UH, a listener without routes 404 NR),
    /// and a CDS or LDS that never answered stops holding up initialization.
    public mutating func tick(now: Double) -> (changes: Changes, requests: [XDSRequest]) {
        var changes = Changes()
        guard let timeout = fetchTimeout else {
            return (changes, [])
        }
        for (name, since) in warmingClusters.sorted(by: { $0.key < $1.key }) where now - since >= timeout {
            warmingClusters.removeValue(forKey: name)
            if let config = clusters[name] {
                activeClusters.insert(name)
                changes.upsertClusters.append(withEndpoints(config))
            }
        }
        for (name, since) in warmingListeners.sorted(by: { $0.key < $1.key }) where now - since >= timeout {
            warmingListeners.removeValue(forKey: name)
            if let config = listeners[name] {
                activeListeners.insert(name)
                changes.upsertListeners.append(config)
            }
        }
        let requests = progressInitialization(now: now, changes: &changes).map { subscriptionRequest($0) }
        return (changes, requests)
    }

    // MARK: Helpers

    /// Initialization as Envoy's init manager runs it: CDS (and the EDS it triggers) warms
    /// first, then LDS is requested, then the listeners (and the RDS they trigger) warm. Each
    /// stage gives up waiting after `initial_fetch_timeout` from its own start.
    private mutating func progressInitialization(now: Double, changes: inout Changes) -> [XDSResourceType] {
        var followUps: [XDSResourceType] = []
        let timeout = fetchTimeout ?? .infinity
        if !cdsWarmed, (answered.contains(.cluster) && warmingClusters.isEmpty) || now - createdAt >= timeout {
            cdsWarmed = true
        }
        if cdsWarmed, ldsEnabled, !ldsStarted {
            ldsStarted = true
            ldsStartedAt = now
            followUps.append(.listener)
        }
        if !initialized, cdsWarmed {
            let ldsDone = !ldsEnabled || (answered.contains(.listener) && warmingListeners.isEmpty) || now - ldsStartedAt >= timeout
            if ldsDone {
                initialized = true
                changes.initialized = true
            }
        }
        return followUps
    }

    /// A cluster serves once its EDS assignment and its SDS secrets are in.
    private func clusterReady(_ config: ClusterConfig) -> Bool {
        if config.discovery == .eds, let service = config.edsServiceName, assignments[service] == nil { return false }
        return config.sdsNames.allSatisfy(secretReady)
    }

    /// A listener serves once its route configurations and SDS secrets are in.
    private func listenerReady(_ config: ListenerConfig) -> Bool {
        routesReady(config) && config.sdsNames.allSatisfy(secretReady)
    }

    private func secretReady(_ name: String) -> Bool {
        secrets[name] != nil || externalSecrets.contains(name)
    }

    /// Secrets arrived from their own SDS source: warming clusters and listeners waiting only on
    /// them start serving.
    public mutating func externalSecretsArrived(_ names: Set<String>) -> Changes {
        externalSecrets.formUnion(names)
        var changes = Changes()
        activateReady(&changes)
        return changes
    }

    private mutating func activateReady(_ changes: inout Changes) {
        for (name, _) in warmingClusters.sorted(by: { $0.key < $1.key }) {
            guard let config = clusters[name], clusterReady(config) else { continue }
            warmingClusters.removeValue(forKey: name)
            activeClusters.insert(name)
            changes.upsertClusters.append(withEndpoints(config))
        }
        for (name, _) in warmingListeners.sorted(by: { $0.key < $1.key }) {
            guard let config = listeners[name], listenerReady(config) else { continue }
            warmingListeners.removeValue(forKey: name)
            activeListeners.insert(name)
            changes.upsertListeners.append(config)
        }
    }

    private func routesReady(_ config: ListenerConfig) -> Bool {
        for chain in config.filterChains {
            if case .httpConnectionManager(let hcm) = chain.filter, let name = hcm.rdsName, routes[name] == nil {
                return false
            }
        }
        return true
    }

    private func withEndpoints(_ config: ClusterConfig) -> ClusterConfig {
        guard config.discovery == .eds, let service = config.edsServiceName else { return config }
        var out = config
        out.endpoints = assignments[service] ?? []
        return out
    }

    func desiredEDSNames() -> Set<String> {
        Set(clusters.values.compactMap { $0.discovery == .eds ? $0.edsServiceName : nil })
    }

    /// Secret names with their own SDS source, by source cluster, over every known resource.
    func desiredExternalSDS() -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for listener in listeners.values { out.merge(listener.sdsSources) { $0.union($1) } }
        for cluster in clusters.values { out.merge(cluster.sdsSources) { $0.union($1) } }
        return out
    }

    /// Secret names to request over ADS (those with their own SDS source are not).
    func desiredSDSNames() -> Set<String> {
        listeners.values.reduce(into: Set<String>()) { $0.formUnion($1.adsSDSNames) }
            .union(clusters.values.reduce(into: Set<String>()) { $0.formUnion($1.adsSDSNames) })
    }

    func desiredRDSNames() -> Set<String> {
        var out = Set<String>()
        for listener in listeners.values {
            for chain in listener.filterChains {
                if case .httpConnectionManager(let hcm) = chain.filter, let name = hcm.rdsName {
                    out.insert(name)
                }
            }
        }
        return out
    }

    /// Replaces a named subscription; returns the type when a request must go out.
    private mutating func updateNames(_ type: XDSResourceType, to next: Set<String>) -> [XDSResourceType] {
        let current = names[type] ?? []
        guard current != next else { return [] }
        names[type] = next
        pendingDelta[type, default: ([], [])].subscribe.formUnion(next.subtracting(current))
        pendingDelta[type, default: ([], [])].unsubscribe.formUnion(current.subtracting(next))
        return [type]
    }

    private var pendingDelta: [XDSResourceType: (subscribe: Set<String>, unsubscribe: Set<String>)] = [:]

    private mutating func subscriptionRequest(_ type: XDSResourceType) -> XDSRequest {
        if !requestedOnStream.contains(type) {
            pendingDelta.removeValue(forKey: type)
            return initialRequest(type)
        }
        var request = XDSRequest(type: type)
        let state = status[type] ?? XDSTypeStatus()
        request.versionInfo = state.version
        request.nonce = state.nonce
        request.names = type.isWildcard ? [] : (names[type] ?? []).sorted()
        let delta = pendingDelta.removeValue(forKey: type) ?? ([], [])
        request.subscribe = delta.subscribe.sorted()
        request.unsubscribe = delta.unsubscribe.sorted()
        return request
    }

    private mutating func record(_ type: XDSResourceType, name: String, version: String, resource: Google_Protobuf_Any, now: Double) {
        if let previous = status[type]?.resources[name], previous.resource != resource {
            status[type]?.modified += 1
        }
        status[type]?.resources[name] = XDSResourceRecord(name: name, version: version, lastUpdated: now, resource: resource)
        status[type]?.perResourceSuccess[name, default: 0] += 1
    }

    /// Decodes one resource and names it (Delta's resource name, else the message's own), or
    /// records why it could not be decoded.
    private func decodeNamed<M: SwiftProtobuf.Message>(
        _ item: (name: String?, version: String, resource: Google_Protobuf_Any), as type: XDSResourceType,
        name ownName: (M) -> String, errors: inout [(String, String)]
    ) -> (message: M, name: String)? {
        do {
            let message: M = try decode(item.resource, as: type)
            return (message, item.name ?? ownName(message))
        } catch {
            errors.append((item.name ?? "(unnamed)", "\(error)"))
            return nil
        }
    }

    private func decode<M: SwiftProtobuf.Message>(_ any: Google_Protobuf_Any, as type: XDSResourceType) throws -> M {
        guard any.typeURL == type.typeURL else {
            throw ConfigError("", "resource type \(any.typeURL) in a \(type.shortName.uppercased()) response")
        }
        do {
            return try M(unpackingAny: any)
        } catch {
            throw ConfigError("", "cannot decode \(type.resourceWord): \(error)")
        }
    }
}

/// A request to the control plane, before it is encoded as SotW or Delta.
public struct XDSRequest: Sendable, Equatable {
    public var type: XDSResourceType
    /// SotW: `version_info`.
    public var versionInfo = ""
    public var nonce = ""
    /// SotW: the full subscription (empty for wildcard types).
    public var names: [String] = []
    /// Delta: names added and removed since the last request; on a new stream, the full set.
    public var subscribe: [String] = []
    public var unsubscribe: [String] = []
    /// Delta: what Skiff already holds, sent on a new stream.
    public var initialVersions: [String: String] = [:]
    /// Set for a NACK.
    public var errorDetail: String?
    /// An ACK or NACK (Delta sends `response_nonce` only on these).
    public var isAck = false
    /// The first request of a type on a stream.
    public var isInitial = false

    public init(type: XDSResourceType) {
        self.type = type
    }
}

import NIOCore
import SkiffCore
import SkiffTLS
import SkiffTransport
import SkiffUpstream
import SkiffXDS

/// Configuration changes at run time (the control plane, and startup's static resources): every
/// change goes to every worker on its own loop; nothing already running is interrupted unless
/// the change concerns it.
extension SkiffServer: XDSConfigSink {
    public func apply(_ changes: ADSStateMachine.Changes) async -> [(name: String, reason: String)] {
        if !changes.externalSDS.isEmpty {
            await subscribeSDS(changes.externalSDS)
        }
        if !changes.secrets.isEmpty {
            // Contexts naming these secrets rebuild now: new handshakes use them at once.
            for note in tls.updateSecrets(changes.secrets) {
                options.logger.info("SDS: \(note)")
            }
        }
        if !changes.upsertClusters.isEmpty {
            await upsertClusters(changes.upsertClusters)
        }
        if !changes.routes.isEmpty {
            await updateRoutes(changes.routes)
        }
        var failures: [(name: String, reason: String)] = []
        for listener in changes.upsertListeners {
            do {
                try await installListener(listener)
            } catch {
                failures.append((listener.name, "cannot listen on \(listener.address): \(error)"))
            }
        }
        for name in changes.removeListeners {
            await removeListener(named: name)
        }
        if !changes.removeClusters.isEmpty {
            await removeClusters(changes.removeClusters)
        }
        if changes.initialized {
            state.withLock { $0.initialized = true }
            markInitialized()
            options.logger.info("initial configuration from the control plane is in")
        }
        return failures
    }

    public func controlPlaneConnectionChanged(connected: Bool) {
        state.withLock { $0.controlPlaneConnected = connected }
    }

    // MARK: Clusters

    /// Adds or updates clusters on every worker. Endpoints are resolved first (IP literals at
    /// once, DNS names on the blocking pool); a name that does not resolve starts empty.
    func upsertClusters(_ configs: [ClusterConfig]) async {
        for failure in tls.prepare(clients: configs.flatMap(\.allTLS)) {
            options.logger.warning("cluster TLS: \(failure); connections to its hosts fail until it loads")
        }
        var resolved: [String: [ResolvedEndpoint]] = [:]
        for cluster in configs {
            do {
                resolved[cluster.name] = try await EndpointResolver.resolve(cluster)
            } catch {
                options.logger.warning("cluster \(cluster.name): \(error)")
                resolved[cluster.name] = []
            }
        }
        let installed = resolved
        let (resources, health) = state.withLock { state -> ([String: ClusterResources], [String: [SocketAddress: HostHealth]]) in
            for cluster in configs {
                if state.clusterConfigs[cluster.name] == nil { state.managers.clusterAdded += 1 }
                state.clusterConfigs[cluster.name] = cluster
                let addresses = Set((installed[cluster.name] ?? []).map(\.address))
                if cluster.discovery == .strictDNS || cluster.discovery == .logicalDNS {
                    let previous = Set((state.resolved[cluster.name] ?? []).map(\.address))
                    state.dnsUpdates[cluster.name, default: DNSUpdateCounts()].resolved(changed: previous != addresses)
                }
                if state.resolved[cluster.name].map({ Set($0.map(\.address)) != addresses }) ?? !addresses.isEmpty {
                    state.membershipChanges[cluster.name, default: 0] += 1
                }
                state.resolved[cluster.name] = installed[cluster.name]
                if state.clusterResources[cluster.name] == nil {
                    state.clusterResources[cluster.name] = ClusterResources()
                }
                state.hostHealth[cluster.name] = Self.sharedHealth(
                    state.hostHealth[cluster.name] ?? [:], for: installed[cluster.name] ?? [], resources: state.clusterResources[cluster.name],
                    healthChecked: cluster.healthCheck != nil
                )
            }
            return (state.clusterResources, state.hostHealth)
        }
        for worker in workers {
            try? await worker.eventLoop.submit {
                worker.value.clusters.upsert(configs, resolved: installed, resources: resources, health: health)
            }.get()
        }
        ringBackgroundLoops()
        // After the clusters are recorded: an SDS source cluster may be among them.
        await subscribeSDS(configs.reduce(into: [:]) { out, config in out.merge(config.sdsSources) { $0.union($1) } })
    }

    func removeClusters(_ names: [String]) async {
        state.withLock { state in
            for name in names {
                if state.clusterConfigs.removeValue(forKey: name) != nil { state.managers.clusterRemoved += 1 }
                state.resolved.removeValue(forKey: name)
                state.clusterResources.removeValue(forKey: name)
                state.hostHealth.removeValue(forKey: name)
            }
        }
        ringBackgroundLoops()
        for worker in workers {
            try? await worker.eventLoop.submit { worker.value.clusters.remove(names) }.get()
        }
    }

    /// The clusters serving now (static and dynamic), by name.
    var currentClusters: [ClusterConfig] {
        state.withLock { $0.clusterConfigs.values.sorted { $0.name < $1.name } }
    }

    var currentListeners: [ListenerConfig] {
        state.withLock { $0.listenerConfigs.values.sorted { $0.name < $1.name } }
    }

    // MARK: Routes

    /// New route tables: the next request on every connection using them routes by the new table.
    func updateRoutes(_ tables: [String: RouteTable]) async {
        for worker in workers {
            try? await worker.eventLoop.submit {
                for (name, table) in tables {
                    worker.value.routes.update(name, table: table)
                }
            }.get()
        }
    }

    // MARK: Listeners

    /// Adds a listener, or updates one in place: the socket stays bound, new connections get
    /// the new filter chains, and only connections on chains that changed drain (over
    /// `--drain-time-s`). A listener moving to another address is removed and added again.
    func installListener(_ config: ListenerConfig) async throws {
        let name = config.name
        await subscribeSDS(config.sdsSources)
        for failure in tls.prepare(servers: config.filterChains.compactMap(\.tls)) {
            options.logger.warning("listener \(name) TLS: \(failure); its TLS chains refuse connections until it loads")
        }
        let previous = state.withLock { $0.listenerAddresses[name] }
        if let previous, previous == config.address {
            let deadline = NIODeadline.now() + options.drainTime
            var drained = 0
            for worker in workers {
                drained += (try? await worker.eventLoop.submit {
                    ListenerBinder.createStats(for: config, on: worker.value)
                    return worker.value.listeners[name]?.update(config, drainBy: deadline) ?? 0
                }.get()) ?? 0
            }
            let kept = Set(config.filterChains.map(\.fingerprint))
            state.withLock {
                let replacedChains = $0.listenerConfigs[name]?.filterChains.filter { !kept.contains($0.fingerprint) }.count ?? 0
                if replacedChains > 0 { $0.managers.filterChainsDraining.append((replacedChains, deadline)) }
                $0.listenerConfigs[name] = config
                $0.managers.listenerModified += 1
                $0.managers.listenerInPlaceUpdated += 1
                $0.managers.listenerCreateSuccess += Int64(workers.count)
            }
            options.logger.info("listener \(name) updated; \(drained) connections on changed filter chains draining")
            return
        }
        if previous != nil {
            await removeListener(named: name, replaced: true)
        }
        for worker in workers {
            try await worker.eventLoop.submit {
                worker.value.listeners[name] = ActiveListener(config: config)
                ListenerBinder.createStats(for: config, on: worker.value)
            }.get()
        }
        do {
            let bound = try await ListenerBinder.bind(config, workers: WorkerDirectory(group: group, workers: workers))
            state.withLock {
                $0.listeners[name] = bound
                $0.listenerAddresses[name] = config.address
                $0.listenerConfigs[name] = config
                // Moved to a new address: Envoy counts a modification, not an addition.
                if previous == nil { $0.managers.listenerAdded += 1 } else { $0.managers.listenerModified += 1 }
                $0.managers.listenerCreateSuccess += Int64(workers.count)
            }
            options.logger.info("listener \(name) on \(bound.address)")
        } catch {
            for worker in workers {
                try? await worker.eventLoop.submit { _ = worker.value.listeners.removeValue(forKey: name) }.get()
            }
            throw error
        }
    }

    /// Stops accepting on a listener; its connections drain over `--drain-time-s`.
    /// `replaced`: removed to come back on a new address (counted as modified, not removed).
    func removeListener(named name: String, replaced: Bool = false) async {
        let bound = state.withLock { state -> ListenerBinder.Bound? in
            if !replaced, state.listenerAddresses[name] != nil { state.managers.listenerRemoved += 1 }
            state.listenerAddresses.removeValue(forKey: name)
            state.listenerConfigs.removeValue(forKey: name)
            return state.listeners.removeValue(forKey: name)
        }
        for channel in bound?.channels ?? [] {
            try? await channel.close()
        }
        let deadline = NIODeadline.now() + options.drainTime
        if bound != nil { state.withLock { $0.managers.listenersDraining.append(deadline) } }
        for worker in workers {
            try? await worker.eventLoop.submit {
                _ = worker.value.listeners.removeValue(forKey: name)?.drainAll(by: deadline)
            }.get()
        }
        options.logger.info("listener \(name) removed")
    }
}

extension SkiffServer {
    /// One `HostHealth` per address, kept for addresses that stay (an ejected host stays ejected
    /// across an EDS or DNS update). An ejected host that leaves gives its ejection slot back.
    static func sharedHealth(
        _ current: [SocketAddress: HostHealth], for endpoints: [ResolvedEndpoint], resources: ClusterResources?,
        healthChecked: Bool = false
    ) -> [SocketAddress: HostHealth] {
        var next: [SocketAddress: HostHealth] = [:]
        for endpoint in endpoints {
            next[endpoint.address] = current[endpoint.address] ?? HostHealth(pendingActiveCheck: healthChecked)
        }
        if let resources {
            let gone = current.filter { next[$0.key] == nil }.map(\.value)
            OutlierDetector.sweep(gone, resources: resources, now: .max)
        }
        return next
    }

    /// The longest a background loop sleeps with nothing due (a backstop; changes ring the doorbells).
    static let longestBackgroundSleep: UInt64 = 5_000_000_000

    /// How long to sleep until `wake` (a `ContinuousClockReading`), at least 1 ms.
    static func backgroundSleep(until wake: UInt64) -> Duration {
        let now = ContinuousClockReading.now()
        return .nanoseconds(Int64(max(wake > now ? wake - now : 0, 1_000_000)))
    }

    /// Clusters or hosts changed: new hosts are probed and new intervals start without waiting.
    func ringBackgroundLoops() {
        healthCheckDoorbell.ring()
        outlierDoorbell.ring()
    }

    /// Outlier detection's interval tick for every cluster that has it: ejected hosts whose time
    /// is up return to the load balancer, multipliers decay, and success-rate and
    /// failure-percentage detection run over the interval's counts.
    func sweepOutliers() async {
        var nextTick: [String: UInt64] = [:]
        var random = FastRandom(seed: UInt64(truncatingIfNeeded: ContinuousClockReading.now()))
        var wake: UInt64 = 0
        while !Task.isCancelled {
            await outlierDoorbell.wait(for: Self.backgroundSleep(until: wake))
            let now = ContinuousClockReading.now()
            wake = now + Self.longestBackgroundSleep
            let clusters = state.withLock { state in
                state.clusterConfigs.compactMap { name, config -> (String, OutlierDetectionConfig, ClusterResources, [HostHealth])? in
                    guard let detection = config.outlierDetection, let resources = state.clusterResources[name] else { return nil }
                    return (name, detection, resources, Array((state.hostHealth[name] ?? [:]).values))
                }
            }
            for (name, detection, resources, hosts) in clusters {
                let due = nextTick[name] ?? (now + UInt64(detection.interval.nanoseconds))
                nextTick[name] = due
                guard now >= due else {
                    wake = min(wake, due)
                    continue
                }
                nextTick[name] = now + UInt64(detection.interval.nanoseconds)
                wake = min(wake, now + UInt64(detection.interval.nanoseconds))
                let tick = OutlierDetector.intervalTick(hosts, config: detection, resources: resources, now: now, random: &random)
                if tick.returned > 0 {
                    options.logger.info("cluster \(name): \(tick.returned) host(s) back from outlier ejection")
                }
                guard !tick.ejections.isEmpty else { continue }
                options.logger.warning("cluster \(name): outlier detection at interval: \(tick.ejections)")
                state.withLock { state in
                    var counts = state.outlierTickStats[name] ?? [:]
                    for ejection in tick.ejections {
                        switch ejection {
                        case .ejected(let reason):
                            counts["ejections_enforced_total", default: 0] += 1
                            counts["ejections_enforced_" + reason.rawValue, default: 0] += 1
                            counts["ejections_detected_" + reason.rawValue, default: 0] += 1
                        case .notEnforced(let reason):
                            counts["ejections_detected_" + reason.rawValue, default: 0] += 1
                        case .overflow(let reason):
                            counts["ejections_overflow", default: 0] += 1
                            counts["ejections_detected_" + reason.rawValue, default: 0] += 1
                        }
                    }
                    state.outlierTickStats[name] = counts
                }
            }
        }
    }
}

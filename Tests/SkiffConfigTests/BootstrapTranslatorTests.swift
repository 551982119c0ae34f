import SkiffConfig
import SkiffCore
import Testing

let minimal = """
    node: { id: n1, cluster: c1 }
    admin:
      address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }
    static_resources:
      listeners:
      - name: web
        address: { socket_address: { address: 0.0.0.0, port_value: 8080 } }
        filter_chains:
        - filters:
          - name: envoy.filters.network.http_connection_manager
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
              stat_prefix: ingress
              route_config:
                virtual_hosts:
                - name: all
                  domains: ["*"]
                  routes:
                  - match: { prefix: "/" }
                    route:
                      weighted_clusters:
                        clusters: [{ name: a, weight: 90 }, { name: b, weight: 10 }]
              http_filters:
              - name: envoy.filters.http.router
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
      clusters:
      - name: a
        type: STATIC
        lb_policy: LEAST_REQUEST
        load_assignment:
          cluster_name: a
          endpoints:
          - lb_endpoints:
            - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
              load_balancing_weight: 3
      - name: b
        type: STRICT_DNS
        connect_timeout: 0.25s
        load_assignment:
          cluster_name: b
          endpoints:
          - lb_endpoints:
            - endpoint: { address: { socket_address: { address: localhost, port_value: 2 } } }
    """

func configError(_ yaml: String) -> ConfigError? {
    do {
        _ = try BootstrapLoader.load(text: yaml)
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        return ConfigError("?", "\(error)")
    }
}

struct BootstrapTranslatorTests {
    @Test func translatesWithEnvoysDefaults() throws {
        let snapshot = try BootstrapLoader.load(text: minimal)
        #expect(snapshot.node == NodeInfo(id: "n1", cluster: "c1"))
        #expect(snapshot.admin == SocketAddressConfig(host: "127.0.0.1", port: 9901))
        let listener = try #require(snapshot.listeners.first)
        #expect(listener.statPrefix == "0.0.0.0_8080")
        #expect(listener.bufferLimitBytes == 1024 * 1024)
        guard case .httpConnectionManager(let hcm) = listener.filterChains[0].filter else {
            Issue.record("expected an HTTP connection manager")
            return
        }
        #expect(hcm.maxRequestHeadersBytes == 60 * 1024)
        #expect(hcm.idleTimeout == .hours(1))
        #expect(hcm.streamIdleTimeout == .minutes(5))
        #expect(hcm.serverName == "envoy")
        guard case .forward(let action) = hcm.routeTable.virtualHosts[0].routes[0].action else {
            Issue.record("expected a forwarding route")
            return
        }
        #expect(action.timeout == .seconds(15))
        #expect(action.target == .weighted([.init(name: "a", weight: 90), .init(name: "b", weight: 10)], totalWeight: 100))
        let a = try #require(snapshot.cluster(named: "a"))
        #expect(a.connectTimeout == .seconds(5))
        #expect(a.lbPolicy == .leastRequest(choiceCount: 2))
        #expect(a.endpoints == [EndpointConfig(address: SocketAddressConfig(host: "127.0.0.1", port: 1), weight: 3)])
        let b = try #require(snapshot.cluster(named: "b"))
        #expect(b.discovery == .strictDNS)
        #expect(b.connectTimeout == .milliseconds(250))
    }

    @Test func jsonWorksToo() throws {
        let json = """
            {"static_resources": {"clusters": [{"name": "a", "type": "STATIC", "load_assignment": {"cluster_name": "a",
             "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}}}}]}]}}]}}
            """
        let snapshot = try BootstrapLoader.load(text: json)
        #expect(snapshot.clusters.map(\.name) == ["a"])
    }

    @Test func unknownTypedConfigNamesItsPath() {
        let yaml = minimal.replacingFirst(
            "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            with: "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy"
        )
        let error = configError(yaml)
        #expect(error?.path == "static_resources.listeners[0].filter_chains[0].filters[0].typed_config")
        #expect(error?.message.contains("unknown type envoy.extensions.filters.network.redis_proxy.v3.RedisProxy") == true)
    }

    @Test func unsupportedFieldNamesItsPath() {
        let yaml = minimal.replacingFirst("stat_prefix: ingress", with: "stat_prefix: ingress\n          add_user_agent: true")
        let error = configError(yaml)
        #expect(error?.path == "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.add_user_agent")
    }

    @Test func unknownClusterIsRejected() {
        let yaml = minimal.replacingFirst("{ name: b, weight: 10 }", with: "{ name: nope, weight: 10 }")
        let error = configError(yaml)
        #expect(error?.path == "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].name")
        #expect(error?.message == "unknown cluster \"nope\"")
    }

    @Test func staticClustersNeedIPs() {
        let yaml = minimal.replacingFirst("address: 127.0.0.1, port_value: 1", with: "address: db.internal, port_value: 1")
        #expect(configError(yaml)?.message.contains("STATIC clusters need IP addresses") == true)
    }

    @Test func invalidRegexIsRejected() {
        let yaml = minimal.replacingFirst("match: { prefix: \"/\" }", with: "match: { safe_regex: { regex: \"(unclosed\" } }")
        #expect(configError(yaml)?.path.hasSuffix("routes[0].match.safe_regex.regex") == true)
    }

    @Test func unknownFieldIsRejected() {
        let yaml = minimal.replacingFirst("node: { id: n1, cluster: c1 }", with: "node: { id: n1, cluster: c1 }\nnot_a_field: 1")
        #expect(configError(yaml)?.message.contains("not_a_field") == true)
    }

    @Test func zeroTotalWeightIsRejected() {
        let yaml = minimal.replacingFirst("{ name: a, weight: 90 }, { name: b, weight: 10 }", with: "{ name: a, weight: 0 }, { name: b, weight: 0 }")
        #expect(configError(yaml)?.message.contains("sum of weights") == true)
    }

    @Test func httpFiltersMustEndWithTheRouter() {
        let yaml = minimal.replacingFirst(
            "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            with: "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
        )
        #expect(configError(yaml)?.message.contains("HTTP filter envoy.extensions.filters.http.fault.v3.HTTPFault is not supported yet") == true)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else {
            Issue.record("fixture does not contain \(target)")
            return self
        }
        return replacingCharacters(in: range, with: replacement)
    }
}

struct ConfigDumpRedactionTests {
    @Test func privateKeysAreRedacted() {
        let json = #"{"name":"default","tls_certificate":{"certificate_chain":{"inline_string":"CERT"},"private_key":{"inline_string":"-----BEGIN PRIVATE KEY-----\nAB\"C\n"}}}"#
        let out = ResourceTranslator.redactPrivateKeys(json)
        #expect(out.contains(#""private_key":{"inline_string":"[redacted]"}"#))
        #expect(!out.contains("BEGIN PRIVATE KEY") && out.contains("CERT"))
        #expect(ResourceTranslator.redactPrivateKeys(#"{"private_key":{"inline_bytes":"QUJD"}}"#) == #"{"private_key":{"inline_bytes":"W3JlZGFjdGVkXQ=="}}"#)
    }
}

struct UpgradeConfigTranslationTests {
    @Test func routeUpgradeConfigsOverrideTheConnectionManagers() throws {
        let yaml = minimal
            .replacingFirst("stat_prefix: ingress", with: "stat_prefix: ingress\n          upgrade_configs: [{ upgrade_type: WebSocket }, { upgrade_type: CONNECT, enabled: false }]")
            .replacingFirst("weighted_clusters:", with: "upgrade_configs: [{ upgrade_type: websocket, enabled: false }, { upgrade_type: spdy/3.1 }]\n                  weighted_clusters:")
        let snapshot = try BootstrapLoader.load(text: yaml)
        guard case .httpConnectionManager(let hcm) = snapshot.listeners[0].filterChains[0].filter,
              case .forward(let action) = hcm.routeTable.virtualHosts[0].routes[0].action
        else {
            Issue.record("expected a forwarding route")
            return
        }
        #expect(hcm.upgradeTypes == ["websocket"], "lowercased; disabled entries are not enabled")
        #expect(action.upgradeOverrides == ["websocket": false, "spdy/3.1": true])
    }

    @Test func anUpgradeConfigNeedsItsType() {
        let yaml = minimal.replacingFirst("weighted_clusters:", with: "upgrade_configs: [{ enabled: true }]\n                  weighted_clusters:")
        let error = configError(yaml)
        #expect(error?.path.hasSuffix("routes[0].route.upgrade_configs[0].upgrade_type") == true)
    }
}

/// `ORIGINAL_DST` clusters under Envoy's rules (and error texts).
struct OriginalDstClusterTests {
    static func withClusterB(_ fields: String) -> String {
        let start = minimal.range(of: "  - name: b\n")!.lowerBound
        return String(minimal[..<start]) + "  - name: b\n" + fields
    }

    @Test func passthroughClusterTranslates() throws {
        let yaml = Self.withClusterB("""
                type: ORIGINAL_DST
                lb_policy: CLUSTER_PROVIDED
                connect_timeout: 1s
                cleanup_interval: 2s
                original_dst_lb_config: { use_http_header: true, upstream_port_override: 8080 }
                upstream_bind_config: { source_address: { address: 127.0.0.6, port_value: 0 } }
            """)
        let snapshot = try BootstrapLoader.load(text: yaml)
        let cluster = try #require(snapshot.clusters.first { $0.name == "b" })
        #expect(cluster.discovery == .originalDst)
        #expect(cluster.originalDst?.useHTTPHeader == true)
        #expect(cluster.originalDst?.headerName == "x-envoy-original-dst-host")
        #expect(cluster.originalDst?.portOverride == 8080)
        #expect(cluster.originalDst?.cleanupInterval == .seconds(2))
        #expect(cluster.upstreamBindAddress == "127.0.0.6")
    }

    @Test func endpointsAndOtherLbPoliciesAreRejectedAsEnvoyDoes() {
        let withEndpoints = Self.withClusterB("""
                type: ORIGINAL_DST
                lb_policy: CLUSTER_PROVIDED
                load_assignment:
                  cluster_name: b
                  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 2 } } } }] }]
            """)
        #expect(configError(withEndpoints)?.message.contains("ORIGINAL_DST clusters must have no load assignment configured") == true)
        let roundRobin = Self.withClusterB("    type: ORIGINAL_DST\n    lb_policy: ROUND_ROBIN\n")
        #expect(configError(roundRobin)?.path.hasSuffix("clusters[1].lb_policy") == true)
        let misplaced = Self.withClusterB("    type: STATIC\n    original_dst_lb_config: { use_http_header: true }\n")
        #expect(configError(misplaced)?.path.hasSuffix("clusters[1].original_dst_lb_config") == true)
    }
}

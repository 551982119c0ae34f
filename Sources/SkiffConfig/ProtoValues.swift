import EnvoyAPI
import NIOCore
import SkiffCore
import SwiftProtobuf

/// Conversions from protobuf value types to Skiff's, with Envoy's validation rules.
enum ProtoValues {
    static func duration(_ d: Google_Protobuf_Duration) -> TimeAmount {
        .nanoseconds(d.seconds * 1_000_000_000 + Int64(d.nanos))
    }

    /// An optional duration where an explicit 0 means "disabled" (route timeout, idle timeouts).
    static func timeout(_ d: Google_Protobuf_Duration, isSet: Bool, default fallback: TimeAmount?) -> TimeAmount? {
        guard isSet else { return fallback }
        let amount = duration(d)
        return amount.nanoseconds == 0 ? nil : amount
    }

    static func socketAddress(_ address: Envoy_Config_Core_V3_Address, at path: FieldPath) throws -> SocketAddressConfig {
        switch address.address {
        case .socketAddress(let socket):
            try SupportedFields.check(socket, allowed: ["address", "port_value", "protocol", "ipv4_compat"], at: path / "socket_address")
            if socket.protocol != .tcp {
                throw (path / "socket_address" / "protocol").error("only TCP is supported")
            }
            guard case .portValue(let port) = socket.portSpecifier, port <= 65535 else {
                throw (path / "socket_address" / "port_value").error("a port_value from 0 to 65535 is required")
            }
            guard !socket.address.isEmpty else {
                throw (path / "socket_address" / "address").error("an address is required")
            }
            return SocketAddressConfig(host: socket.address, port: Int(port))
        case .pipe(let pipe):
            try SupportedFields.check(pipe, allowed: ["path", "mode"], at: path / "pipe")
            guard !pipe.path.isEmpty else {
                throw (path / "pipe" / "path").error("a path is required")
            }
            return SocketAddressConfig(pipePath: pipe.path)
        case .envoyInternalAddress:
            throw (path / "envoy_internal_address").error("internal addresses are not supported")
        case nil:
            throw path.error("an address is required")
        }
    }

    /// A `ConfigSource` Skiff can follow: `ads: {}` (with any `resource_api_version` but V2).
    static func checkADSSource(_ source: Envoy_Config_Core_V3_ConfigSource, at path: FieldPath) throws {
        try SupportedFields.check(source, allowed: ["ads", "resource_api_version", "initial_fetch_timeout"], at: path,
                                  hint: "Skiff takes dynamic resources over ADS only")
        guard case .ads = source.configSourceSpecifier else {
            throw path.error("ads is required: Skiff takes dynamic resources over the aggregated stream")
        }
    }

    static func ipLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

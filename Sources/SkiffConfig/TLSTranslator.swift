import EnvoyAPI
import Foundation
import SkiffCore
import SwiftProtobuf

/// `envoy.transport_sockets.tls` (`DownstreamTlsContext` / `UpstreamTlsContext`) → Skiff's TLS
/// snapshots. `raw_buffer` means plaintext (nil).
enum TLSTranslator {
    static let tlsName = "envoy.transport_sockets.tls"
    static let rawBufferName = "envoy.transport_sockets.raw_buffer"
    static let downstreamType = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
    static let upstreamType = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    static let rawBufferType = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"

    /// The transport socket's typed config, or nil for `raw_buffer`.
    static func typedConfig(_ socket: Envoy_Config_Core_V3_TransportSocket, expecting type: String, at path: FieldPath) throws -> Google_Protobuf_Any? {
        try SupportedFields.check(socket, allowed: ["name", "typed_config"], at: path)
        guard case .typedConfig(let any) = socket.configType else {
            if socket.name == rawBufferName { return nil }
            throw (path / "typed_config").error("transport socket \"\(socket.name)\" needs a typed_config")
        }
        let typeName = any.typeURL.split(separator: "/").last.map(String.init) ?? any.typeURL
        if typeName == rawBufferType { return nil }
        guard typeName == type else {
            throw (path / "typed_config").error("transport socket type \(typeName) is not supported here (\(type) or raw_buffer)")
        }
        return any
    }

    static func downstream(_ socket: Envoy_Config_Core_V3_TransportSocket, at path: FieldPath) throws -> DownstreamTLSConfig? {
        guard let any = try typedConfig(socket, expecting: downstreamType, at: path) else { return nil }
        let typedPath = path / "typed_config"
        let context = try unpack(Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext.self, from: any, at: typedPath)
        try SupportedFields.check(
            context,
            allowed: [
                "common_tls_context", "require_client_certificate", "disable_stateless_session_resumption",
                "disable_stateful_session_resumption", "session_timeout",
            ],
            at: typedPath, hint: "require_sni, session ticket keys and OCSP stapling arrive later"
        )
        let common = try self.common(context.commonTlsContext, at: typedPath / "common_tls_context")
        guard !common.certificates.isEmpty || !common.certificateSDSNames.isEmpty else {
            throw (typedPath / "common_tls_context" / "tls_certificates").error("a server certificate is required")
        }
        let require = context.hasRequireClientCertificate && context.requireClientCertificate.value
        if require, common.validation == nil {
            throw (typedPath / "common_tls_context" / "validation_context").error("require_client_certificate needs a validation context")
        }
        return DownstreamTLSConfig(common: common, requireClientCertificate: require, fingerprint: Fingerprint.of(context))
    }

    static func upstream(_ socket: Envoy_Config_Core_V3_TransportSocket, at path: FieldPath) throws -> UpstreamTLSConfig? {
        guard let any = try typedConfig(socket, expecting: upstreamType, at: path) else { return nil }
        let typedPath = path / "typed_config"
        let context = try unpack(Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext.self, from: any, at: typedPath)
        try SupportedFields.check(
            context, allowed: ["common_tls_context", "sni", "allow_renegotiation", "max_session_keys"], at: typedPath,
            hint: "auto_host_sni and auto_sni_san_validation arrive later"
        )
        let common = try self.common(context.commonTlsContext, at: typedPath / "common_tls_context")
        return UpstreamTLSConfig(common: common, sni: context.sni.isEmpty ? nil : context.sni, fingerprint: Fingerprint.of(context))
    }

    static func common(_ context: Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext, at path: FieldPath) throws -> CommonTLSConfig {
        try SupportedFields.check(
            context,
            allowed: [
                "tls_params", "tls_certificates", "tls_certificate_sds_secret_configs", "validation_context",
                "validation_context_sds_secret_config", "combined_validation_context", "alpn_protocols",
            ],
            at: path, hint: "certificate providers and custom handshakers are not supported"
        )
        var out = CommonTLSConfig()
        out.certificates = try context.tlsCertificates.enumerated().map { index, certificate in
            try self.certificate(certificate, at: path / "tls_certificates" / index)
        }
        out.certificateSDSNames = try context.tlsCertificateSdsSecretConfigs.enumerated().map { index, config in
            try sdsName(config, at: path / "tls_certificate_sds_secret_configs" / index, sources: &out.sdsSources)
        }
        switch context.validationContextType {
        case .validationContext(let validation):
            out.validation = try self.validation(validation, at: path / "validation_context")
        case .validationContextSdsSecretConfig(let sds):
            out.validation = ValidationConfig(sdsName: try sdsName(sds, at: path / "validation_context_sds_secret_config", sources: &out.sdsSources))
        case .combinedValidationContext(let combined):
            let combinedPath = path / "combined_validation_context"
            try SupportedFields.check(combined, allowed: ["default_validation_context", "validation_context_sds_secret_config"], at: combinedPath)
            var validation = try self.validation(combined.defaultValidationContext, at: combinedPath / "default_validation_context")
            validation.sdsName = try sdsName(
                combined.validationContextSdsSecretConfig, at: combinedPath / "validation_context_sds_secret_config", sources: &out.sdsSources
            )
            out.validation = validation
        case nil:
            break
        default:
            throw path.error("certificate provider validation contexts are not supported")
        }
        out.alpn = context.alpnProtocols
        if context.hasTlsParams {
            let params = context.tlsParams
            try SupportedFields.check(
                params, allowed: ["tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites", "ecdh_curves"],
                at: path / "tls_params"
            )
            out.minimumVersion = try version(params.tlsMinimumProtocolVersion, default: .v1_2, at: path / "tls_params" / "tls_minimum_protocol_version")
            out.maximumVersion = try version(params.tlsMaximumProtocolVersion, default: .v1_3, at: path / "tls_params" / "tls_maximum_protocol_version")
            guard out.minimumVersion <= out.maximumVersion else {
                throw (path / "tls_params").error("the minimum protocol version is above the maximum")
            }
        }
        return out
    }

    /// TLS 1.0 and 1.1 are refused: Skiff speaks 1.2 and 1.3 only.
    static func version(_ value: Envoy_Extensions_TransportSockets_Tls_V3_TlsParameters.TlsProtocol, default fallback: TLSVersion, at path: FieldPath) throws -> TLSVersion {
        switch value {
        case .tlsAuto: return fallback
        case .tlsv12: return .v1_2
        case .tlsv13: return .v1_3
        case .tlsv10, .tlsv11: throw path.error("TLS 1.0 and 1.1 are not supported (TLSv1_2 or TLSv1_3)")
        case .UNRECOGNIZED(let raw): throw path.error("unknown value \(raw)")
        }
    }

    static func certificate(_ certificate: Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate, at path: FieldPath) throws -> CertificateKeyPair {
        try SupportedFields.check(certificate, allowed: ["certificate_chain", "private_key", "watched_directory"], at: path,
                                  hint: "private key providers and passwords are not supported")
        guard certificate.hasCertificateChain, certificate.hasPrivateKey else {
            throw path.error("certificate_chain and private_key are required")
        }
        return CertificateKeyPair(
            chain: try dataSource(certificate.certificateChain, at: path / "certificate_chain"),
            privateKey: try dataSource(certificate.privateKey, at: path / "private_key")
        )
    }

    static func validation(_ validation: Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext, at path: FieldPath) throws -> ValidationConfig {
        try SupportedFields.check(
            validation, allowed: ["trusted_ca", "match_typed_subject_alt_names", "match_subject_alt_names", "watched_directory"], at: path,
            hint: "CRLs, SPKI/hash pinning and custom validators arrive later"
        )
        var out = ValidationConfig()
        if validation.hasTrustedCa {
            out.trustedCA = try dataSource(validation.trustedCa, at: path / "trusted_ca")
        }
        for (index, typed) in validation.matchTypedSubjectAltNames.enumerated() {
            let matcherPath = path / "match_typed_subject_alt_names" / index
            try SupportedFields.check(typed, allowed: ["san_type", "matcher"], at: matcherPath)
            let kind: SANMatcher.Kind
            switch typed.sanType {
            case .dns: kind = .dns
            case .uri: kind = .uri
            case .email: kind = .email
            case .ipAddress: kind = .ipAddress
            default: throw (matcherPath / "san_type").error("san_type must be DNS, URI, EMAIL or IP_ADDRESS")
            }
            out.sanMatchers.append(SANMatcher(kind: kind, rule: try RouteTranslator.stringMatch(typed.matcher, at: matcherPath / "matcher")))
        }
        for (index, matcher) in validation.matchSubjectAltNames.enumerated() {
            let matcherPath = path / "match_subject_alt_names" / index
            out.sanMatchers.append(SANMatcher(kind: .any, rule: try RouteTranslator.stringMatch(matcher, at: matcherPath)))
        }
        return out
    }

    /// An SDS secret's name; a secret whose `sds_config` is an `api_config_source` (gRPC to a
    /// static cluster, as istio-agent serves it) is recorded in `sources` with that cluster.
    static func sdsName(
        _ config: Envoy_Extensions_TransportSockets_Tls_V3_SdsSecretConfig, at path: FieldPath, sources: inout [String: String]
    ) throws -> String {
        try SupportedFields.check(config, allowed: ["name", "sds_config"], at: path)
        guard !config.name.isEmpty else { throw (path / "name").error("a secret name is required") }
        if config.hasSdsConfig, case .apiConfigSource(let api) = config.sdsConfig.configSourceSpecifier {
            let sourcePath = path / "sds_config" / "api_config_source"
            try SupportedFields.check(config.sdsConfig, allowed: ["api_config_source", "resource_api_version", "initial_fetch_timeout"],
                                      at: path / "sds_config")
            try SupportedFields.check(api, allowed: ["api_type", "transport_api_version", "grpc_services", "set_node_on_first_message_only"],
                                      at: sourcePath)
            guard api.apiType == .grpc, api.grpcServices.count == 1, case .envoyGrpc(let grpc) = api.grpcServices[0].targetSpecifier,
                  !grpc.clusterName.isEmpty
            else {
                throw sourcePath.error("SDS over its own source needs api_type GRPC and one envoy_grpc grpc_services entry")
            }
            sources[config.name] = grpc.clusterName
        } else if config.hasSdsConfig {
            try ProtoValues.checkADSSource(config.sdsConfig, at: path / "sds_config")
        }
        return config.name
    }

    static func dataSource(_ source: Envoy_Config_Core_V3_DataSource, at path: FieldPath) throws -> DataSource {
        switch source.specifier {
        case .filename(let name):
            guard !name.isEmpty else { throw (path / "filename").error("must not be empty") }
            return .file(name)
        case .inlineBytes(let data): return .inline(Array(data))
        case .inlineString(let text): return .inline(Array(text.utf8))
        case .environmentVariable(let name):
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw (path / "environment_variable").error("$\(name) is not set")
            }
            return .inline(Array(value.utf8))
        case nil:
            throw path.error("filename, inline_bytes, inline_string or environment_variable is required")
        }
    }
}

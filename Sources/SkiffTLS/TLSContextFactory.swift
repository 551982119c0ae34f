import NIOCore
import NIOSSL
import SkiffCore

/// Builds BoringSSL contexts from Skiff's TLS snapshots, resolving SDS names through a
/// `SecretStore`. Chains are verified by BoringSSL against `trusted_ca`; SANs are checked after the
/// handshake by `TLSHandshakeObserver`, as Envoy checks them only through its matchers.
enum TLSContextFactory {
    struct Built {
        var context: NIOSSLContext
        /// The certificates this side presents (for `/certs` and expiry gauges).
        var ownChain: [NIOSSLCertificate]
        var caCertificates: [NIOSSLCertificate]
        var sanMatchers: [SANMatcher]
        /// Where the chain and the trust bundle came from (a path, or `<inline>`).
        var chainSource = "<inline>"
        var caSource = "<inline>"
    }

    static func server(_ config: DownstreamTLSConfig, secrets: SecretStore) throws -> Built {
        let (chain, key, chainSource) = try identity(config.common, secrets: secrets)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)
        )
        let validation = try self.validation(config.common, secrets: secrets)
        if let validation {
            tls.trustRoots = .certificates(validation.roots)
            tls.certificateVerification = config.requireClientCertificate ? .noHostnameVerification : .optionalVerification
        } else {
            tls.certificateVerification = .none
        }
        apply(config.common, to: &tls)
        let built = try context(tls)
        BoringSSLTuning.disableSessionCache(built)
        return Built(
            context: built, ownChain: chain, caCertificates: validation?.roots ?? [], sanMatchers: validation?.matchers ?? [],
            chainSource: chainSource, caSource: validation?.source ?? "<inline>"
        )
    }

    static func client(_ config: UpstreamTLSConfig, secrets: SecretStore) throws -> Built {
        var tls = TLSConfiguration.makeClientConfiguration()
        var chain: [NIOSSLCertificate] = []
        var chainSource = "<inline>"
        if !config.common.certificates.isEmpty || !config.common.certificateSDSNames.isEmpty {
            let (own, key, source) = try identity(config.common, secrets: secrets)
            chain = own
            chainSource = source
            tls.certificateChain = own.map { .certificate($0) }
            tls.privateKey = .privateKey(key)
        }
        let validation = try self.validation(config.common, secrets: secrets)
        if let validation {
            tls.trustRoots = .certificates(validation.roots)
            tls.certificateVerification = .noHostnameVerification
        } else {
            // Envoy's default: no validation context, no verification.
            tls.certificateVerification = .none
        }
        apply(config.common, to: &tls)
        return Built(
            context: try context(tls), ownChain: chain, caCertificates: validation?.roots ?? [], sanMatchers: validation?.matchers ?? [],
            chainSource: chainSource, caSource: validation?.source ?? "<inline>"
        )
    }

    private static func context(_ tls: TLSConfiguration) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw TLSConfigError("cannot build the TLS context: \(error)")
        }
    }

    private static func apply(_ common: CommonTLSConfig, to tls: inout TLSConfiguration) {
        tls.minimumTLSVersion = common.minimumVersion == .v1_3 ? .tlsv13 : .tlsv12
        tls.maximumTLSVersion = common.maximumVersion == .v1_2 ? .tlsv12 : .tlsv13
        tls.applicationProtocols = common.alpn
        // After Skiff sends close_notify, NIOSSL waits this long for the peer's before closing
        // the socket, and keeps the whole connection (pipeline, SSL object, buffers) until the
        // timer fires even when the socket is already gone. Its 5 s default held ~30 KB per
        // closed connection for 5 s: 60 MB at 400 new connections a second. Envoy does not wait
        // for the peer's close_notify at all; a short wait keeps clean closes clean.
        tls.shutdownTimeout = closeNotifyWait
    }

    /// How long a closing TLS connection waits for the peer's close_notify.
    static let closeNotifyWait = TimeAmount.milliseconds(200)

    /// The certificate this side presents: the first `tls_certificates` entry, else the first SDS one.
    private static func identity(_ common: CommonTLSConfig, secrets: SecretStore) throws -> ([NIOSSLCertificate], NIOSSLPrivateKey, String) {
        var pair = common.certificates.first
        if pair == nil, let name = common.certificateSDSNames.first {
            guard case .certificate(let fromSDS) = secrets.secret(named: name) else {
                throw TLSConfigError("SDS secret \"\(name)\" has not arrived")
            }
            pair = fromSDS
        }
        guard let pair else { throw TLSConfigError("no certificate configured") }
        return (try TLSMaterial.certificates(pair.chain), try TLSMaterial.privateKey(pair.privateKey), source(pair.chain))
    }

    static func source(_ data: DataSource) -> String {
        if case .file(let path) = data { return path }
        return "<inline>"
    }

    private static func validation(
        _ common: CommonTLSConfig, secrets: SecretStore
    ) throws -> (roots: [NIOSSLCertificate], matchers: [SANMatcher], source: String)? {
        guard var validation = common.validation else { return nil }
        if let name = validation.sdsName {
            guard case .validation(let fromSDS) = secrets.secret(named: name) else {
                throw TLSConfigError("SDS secret \"\(name)\" has not arrived")
            }
            validation.trustedCA = fromSDS.trustedCA ?? validation.trustedCA
            validation.sanMatchers += fromSDS.sanMatchers
        }
        guard let ca = validation.trustedCA else {
            throw TLSConfigError("a validation context needs trusted_ca")
        }
        return (try TLSMaterial.certificates(ca), validation.sanMatchers, source(ca))
    }
}

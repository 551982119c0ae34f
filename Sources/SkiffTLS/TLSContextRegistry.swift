#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOSSL
import SkiffCore
import X509

/// Every TLS context in use, shared by all workers and keyed by the TLS config's fingerprint, so
/// chains and clusters with the same context share one BoringSSL context.
///
/// Contexts are built on the control plane (`prepare`) and looked up once per connection on the
/// data path. `refresh` rebuilds a context when a file it read changed (a rotated certificate,
/// including Kubernetes' symlink swap, since files are `stat`ed through links) or an SDS secret it
/// names changed: new handshakes use the new certificate at once, connections already open keep
/// the one they started with.
public final class TLSContextRegistry: Sendable {
    enum Config: Sendable {
        case server(DownstreamTLSConfig)
        case client(UpstreamTLSConfig)

        var common: CommonTLSConfig {
            switch self {
            case .server(let config): return config.common
            case .client(let config): return config.common
            }
        }
    }

    struct Key: Hashable {
        var server: Bool
        var fingerprint: UInt64
    }

    /// What a connection needs: the context, or why there is none (the connection is refused).
    public struct Lookup: Sendable {
        public var context: NIOSSLContext?
        public var sanMatchers: [SANMatcher]
        public var error: String?
        /// The URI SAN of the certificate this context presents.
        public var ownURI: String? = nil
        /// The trusted CAs, so the verifier passes them on BoringSSL's verdict without a parse.
        var authorities: [NIOSSLCertificate] = []

        /// A verification callback checking SANs in the handshake (BoringSSL checks the chain),
        /// when SANs must match.
        public func verifier(_ note: TLSVerifier.Note) -> NIOSSLVerificationCallback? {
            guard !sanMatchers.isEmpty else { return nil }
            return TLSVerifier.perCertificate(sanMatchers: sanMatchers, authorities: authorities, note: note)
        }
    }

    struct Entry: Sendable {
        var config: Config
        var lookup: Lookup
        var ownChain: [NIOSSLCertificate]
        var caCertificates: [NIOSSLCertificate]
        var chainSource = "<inline>"
        var caSource = "<inline>"
        var fileStamps: [String: FileStamp]
        var secretVersion: Int
    }

    struct FileStamp: Equatable, Sendable {
        var inode: UInt64
        var modified: Int
        var size: Int
    }

    private let entries = NIOLockedValueBox<[Key: Entry]>([:])
    public let secrets = SecretStore()
    private let secretVersion = NIOLockedValueBox<Int>(0)

    public init() {}

    public func server(_ config: DownstreamTLSConfig) -> Lookup {
        lookup(Key(server: true, fingerprint: config.fingerprint), .server(config))
    }

    public func client(_ config: UpstreamTLSConfig) -> Lookup {
        lookup(Key(server: false, fingerprint: config.fingerprint), .client(config))
    }

    /// Builds contexts ahead of the first connection; returns the errors, if any.
    @discardableResult
    public func prepare(servers: [DownstreamTLSConfig] = [], clients: [UpstreamTLSConfig] = []) -> [String] {
        servers.compactMap { server($0).error } + clients.compactMap { client($0).error }
    }

    private func lookup(_ key: Key, _ config: Config) -> Lookup {
        if let entry = entries.withLockedValue({ $0[key] }) { return entry.lookup }
        let entry = build(config)
        entries.withLockedValue { $0[key] = entry }
        return entry.lookup
    }

    private func build(_ config: Config) -> Entry {
        let version = secretVersion.withLockedValue { $0 }
        let files = TLSMaterial.files(config.common, secrets: secrets)
        var stamps: [String: FileStamp] = [:]
        for file in files { stamps[file] = Self.stamp(file) }
        do {
            let built: TLSContextFactory.Built
            switch config {
            case .server(let server): built = try TLSContextFactory.server(server, secrets: secrets)
            case .client(let client): built = try TLSContextFactory.client(client, secrets: secrets)
            }
            return Entry(
                config: config,
                lookup: Lookup(
                    context: built.context, sanMatchers: built.sanMatchers, error: nil,
                    ownURI: built.ownChain.first.flatMap { PeerIdentity($0).uris.first }, authorities: built.caCertificates
                ),
                ownChain: built.ownChain, caCertificates: built.caCertificates, chainSource: built.chainSource, caSource: built.caSource,
                fileStamps: stamps, secretVersion: version
            )
        } catch {
            return Entry(
                config: config, lookup: Lookup(context: nil, sanMatchers: [], error: "\(error)"),
                ownChain: [], caCertificates: [], fileStamps: stamps, secretVersion: version
            )
        }
    }

    /// SDS secrets arrived or changed: contexts naming them are rebuilt.
    public func updateSecrets(_ next: [String: SecretStore.Secret]) -> [String] {
        secrets.update(next)
        secretVersion.withLockedValue { $0 += 1 }
        return refresh()
    }

    /// Rebuilds contexts whose files or secrets changed; returns a line per rebuilt context.
    @discardableResult
    public func refresh() -> [String] {
        let version = secretVersion.withLockedValue { $0 }
        let current = entries.withLockedValue { $0 }
        var rebuilt: [Key: Entry] = [:]
        var notes: [String] = []
        for (key, entry) in current {
            let filesChanged = entry.fileStamps.contains { Self.stamp($0.key) != $0.value }
            let secretsChanged = entry.secretVersion != version && !entry.config.common.sdsNames.isEmpty
            guard filesChanged || secretsChanged else { continue }
            let next = build(entry.config)
            // A half-written rotation (key and chain not matching yet) keeps the last good context.
            if next.lookup.context == nil, entry.lookup.context != nil {
                notes.append("TLS context kept: \(next.lookup.error ?? "")")
                var kept = entry
                kept.fileStamps = next.fileStamps
                kept.secretVersion = version
                rebuilt[key] = kept
                continue
            }
            rebuilt[key] = next
            notes.append(next.lookup.error.map { "TLS context failed: \($0)" }
                ?? "TLS context reloaded (\(filesChanged ? "files changed" : "SDS update")), serial \(next.ownChain.first.map(Self.serial) ?? "-")")
        }
        if !rebuilt.isEmpty {
            entries.withLockedValue { entries in
                for (key, entry) in rebuilt { entries[key] = entry }
            }
        }
        return notes
    }

    /// Drops contexts no config uses any more.
    public func retain(servers: [DownstreamTLSConfig], clients: [UpstreamTLSConfig]) {
        let keep = Set(servers.map { Key(server: true, fingerprint: $0.fingerprint) } + clients.map { Key(server: false, fingerprint: $0.fingerprint) })
        entries.withLockedValue { entries in entries = entries.filter { keep.contains($0.key) } }
    }

    /// Every certificate in use, per context, for `/certs` and the expiry gauges.
    public func certificates() -> [ContextCertificates] {
        let current = entries.withLockedValue { entries in entries.sorted { ($0.key.server ? 0 : 1, $0.key.fingerprint) < ($1.key.server ? 0 : 1, $1.key.fingerprint) } }
        return current.map { _, entry in
            ContextCertificates(
                chain: entry.ownChain.map { CertificateReport($0, source: entry.chainSource) },
                trusted: entry.caCertificates.map { CertificateReport($0, source: entry.caSource) }
            )
        }
    }

    static func serial(_ certificate: NIOSSLCertificate) -> String {
        PeerIdentity(certificate).serial
    }

    static func stamp(_ path: String) -> FileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        return FileStamp(inode: UInt64(info.st_ino), modified: Int(modified.tv_sec) &* 1_000_000_000 &+ Int(modified.tv_nsec), size: Int(info.st_size))
    }
}

import Foundation
import NIOSSL
import SkiffCore

/// Why a TLS context could not be built: which material, and what was wrong with it.
public struct TLSConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Reads certificate material (`DataSource`) and parses it with BoringSSL.
enum TLSMaterial {
    static func bytes(_ source: DataSource) throws -> [UInt8] {
        switch source {
        case .inline(let bytes):
            return bytes
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TLSConfigError("cannot read \(path)")
            }
            return Array(data)
        }
    }

    static func label(_ source: DataSource) -> String {
        switch source {
        case .file(let path): return path
        case .inline: return "inline data"
        }
    }

    static func certificates(_ source: DataSource) throws -> [NIOSSLCertificate] {
        let bytes = try bytes(source)
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(bytes)
            guard !chain.isEmpty else { throw TLSConfigError("no PEM certificate in \(label(source))") }
            return chain
        } catch let error as TLSConfigError {
            throw error
        } catch {
            throw TLSConfigError("invalid PEM certificate in \(label(source)): \(error)")
        }
    }

    static func privateKey(_ source: DataSource) throws -> NIOSSLPrivateKey {
        do {
            return try NIOSSLPrivateKey(bytes: try bytes(source), format: .pem)
        } catch let error as TLSConfigError {
            throw error
        } catch {
            throw TLSConfigError("invalid PEM private key in \(label(source)): \(error)")
        }
    }

    /// The files a context reads (its rotation watch list).
    static func files(_ common: CommonTLSConfig, secrets: SecretStore) -> [String] {
        var sources: [DataSource] = []
        for pair in common.certificates { sources += [pair.chain, pair.privateKey] }
        if let ca = common.validation?.trustedCA { sources.append(ca) }
        for name in common.certificateSDSNames {
            if case .certificate(let pair) = secrets.secret(named: name) { sources += [pair.chain, pair.privateKey] }
        }
        if let name = common.validation?.sdsName, case .validation(let validation) = secrets.secret(named: name), let ca = validation.trustedCA {
            sources.append(ca)
        }
        return sources.compactMap { if case .file(let path) = $0 { return path } else { return nil } }
    }
}

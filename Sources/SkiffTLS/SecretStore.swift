import NIOConcurrencyHelpers
import SkiffCore

/// SDS secrets by name (`tls_certificate` or `validation_context`), as the control plane
/// delivered them. Shared by every context that names them.
public final class SecretStore: Sendable {
    public typealias Secret = TLSSecret

    private let secrets = NIOLockedValueBox<[String: Secret]>([:])

    public init() {}

    public func secret(named name: String) -> Secret? {
        secrets.withLockedValue { $0[name] }
    }

    /// Replaces the named secrets; returns the names whose value arrived or changed.
    public func update(_ next: [String: Secret]) {
        secrets.withLockedValue { current in
            for (name, secret) in next { current[name] = secret }
        }
    }

    public func remove(_ names: [String]) {
        secrets.withLockedValue { current in
            for name in names { current.removeValue(forKey: name) }
        }
    }

    public var names: [String] { secrets.withLockedValue { Array($0.keys) } }
}

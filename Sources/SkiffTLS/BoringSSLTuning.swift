import CSkiffBoringSSL
import NIOSSL

/// BoringSSL context settings that swift-nio-ssl does not expose, applied to the `SSL_CTX` under
/// a `NIOSSLContext`.
///
/// Why: BoringSSL's server contexts keep every TLS 1.2 session (session-ID resumption) in an
/// internal cache of up to 20,480 entries for two hours, each holding the peer's certificate
/// chain: a sidecar taking new TLS 1.2 connections grows until the cache is full, takes a lock
/// per handshake to insert, and walks the whole cache every 255 handshakes to expire entries.
/// TLS 1.3 sessions are never cached server-side, and TLS 1.2 peers can still resume with
/// session tickets (which need no server state), so Skiff turns the stateful cache off and its
/// memory does not depend on how many peers connected in the last two hours.
public enum BoringSSLTuning {
    /// The `SSL_CTX` pointer, which swift-nio-ssl keeps in a private stored property; `nil` if a
    /// future version renames it (then the context is used untuned).
    static func rawContext(_ context: NIOSSLContext) -> UnsafeMutableRawPointer? {
        guard let pointer = Mirror(reflecting: context).descendant("sslContext") as? OpaquePointer else { return nil }
        return UnsafeMutableRawPointer(pointer)
    }

    /// Turns off the server-side session cache; false if the context could not be reached.
    @discardableResult
    static func disableSessionCache(_ context: NIOSSLContext) -> Bool {
        guard let raw = rawContext(context) else { return false }
        CNIOBoringSSL_SSL_CTX_set_session_cache_mode(raw, SKIFF_SSL_SESS_CACHE_OFF)
        return CNIOBoringSSL_SSL_CTX_get_session_cache_mode(raw) == SKIFF_SSL_SESS_CACHE_OFF
    }

    /// Stops the context from offering or accepting session tickets: a TLS 1.2 peer without
    /// them (Java before 13, for one) is what fills a server's stateful cache. Tests use it to be
    /// that peer.
    static func disableTickets(_ context: NIOSSLContext) {
        guard let raw = rawContext(context) else { return }
        CNIOBoringSSL_SSL_CTX_set_options(raw, UInt32(SKIFF_SSL_OP_NO_TICKET))
    }

    /// How many sessions the context's internal cache holds (for tests and diagnostics).
    public static func cachedSessions(_ context: NIOSSLContext) -> Int? {
        guard let raw = rawContext(context) else { return nil }
        return Int(CNIOBoringSSL_SSL_CTX_sess_number(raw))
    }
}

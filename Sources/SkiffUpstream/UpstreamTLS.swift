import NIOCore
import NIOSSL
import SkiffCore
import SkiffTelemetry
import SkiffTLS

/// TLS origination (`UpstreamTlsContext`): the handlers a new upstream connection gets, and the
/// handshake's outcome counted as Envoy's `cluster.<name>.ssl.*`.
public enum UpstreamTLS {
    /// How the handshake ended, and the protocol ALPN selected (nil: none).
    public struct Handshake: Sendable {
        public var outcome: TLSOutcome
        public var alpn: String?
    }

    /// Handlers to add in front of the protocol handlers, and a future for the handshake's end.
    /// Built on the cluster's loop; a missing context (a certificate that did not load) fails.
    public static func handlers(
        _ tls: UpstreamTLSConfig, cluster: UpstreamCluster, host: UpstreamHost
    ) -> Result<(handlers: [any ChannelHandler], handshake: EventLoopFuture<Handshake>), ProxyError> {
        let lookup = cluster.tls.client(tls)
        guard let context = lookup.context else {
            cluster.stats.increment(ClusterStat.ssl.connectionError)
            return .failure(ProxyError(.connectFailure("TLS_error: \(lookup.error ?? "no TLS context")")))
        }
        // An IP literal is not a valid SNI value: send none, as Envoy does without `sni`.
        let serverName = tls.sni.flatMap { isIPLiteral($0) ? nil : $0 }
        let ssl: NIOSSLClientHandler
        let note = TLSVerifier.Note()
        do {
            if let verify = lookup.verifier(note) {
                // The per-certificate callback is NIOSSL's only synchronous hook after BoringSSL's
                // own chain check (deprecated there in favour of a full replacement verifier).
                ssl = try NIOSSLClientHandler(context: context, serverHostname: serverName, verificationCallback: verify)
            } else {
                ssl = try NIOSSLClientHandler(context: context, serverHostname: serverName)
            }
        } catch {
            return .failure(ProxyError(.connectFailure("TLS_error: \(error)")))
        }
        let promise = cluster.eventLoop.makePromise(of: Handshake.self)
        let stats = cluster.stats
        let observer = TLSHandshakeObserver(sanMatchers: lookup.sanMatchers, note: note) { outcome, _, alpn in
            count(outcome, in: stats, ssl: ClusterStat.ssl)
            promise.succeed(Handshake(outcome: outcome, alpn: alpn))
        }
        return .success(([ssl, observer], promise.futureResult))
    }

    /// The last step of an upstream connect, shared by the pools: over TLS the connection is
    /// ready only once the handshake (and SAN check) passed, within `connect_timeout` as in
    /// Envoy; a failed handshake is a connect failure (503 UF, retriable as one). `ready` gets
    /// the ALPN protocol the handshake selected (nil in plaintext).
    static func finishConnect(
        _ result: Result<any Channel, any Error>, handshake: EventLoopFuture<Handshake>?, timeout: TimeAmount,
        stats: StatsScope, ready: @escaping (any Channel, String?) -> Void, failed: @escaping (ProxyError) -> Void
    ) {
        switch result {
        case .success(let channel):
            guard let handshake else {
                ready(channel, nil)
                return
            }
            let deadline = channel.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) {
                channel.close(promise: nil)
            }
            handshake.assumeIsolatedUnsafeUnchecked().whenSuccess { result in
                deadline.cancel()
                if result.outcome == .handshake {
                    ready(channel, result.alpn)
                } else {
                    channel.close(promise: nil)
                    failed(ProxyError(.connectFailure("")))
                }
            }
        case .failure(let error):
            if case ChannelError.connectTimeout = error {
                stats.increment(ClusterStat.cxConnectTimeout)
                failed(ProxyError(.connectTimeout))
            } else {
                failed(ProxyError(.connectFailure(ConnectErrorText.describe(error))))
            }
        }
    }

    static func isIPLiteral(_ text: String) -> Bool {
        (try? SocketAddress(ipAddress: text, port: 0)) != nil
    }

    /// Counts a handshake outcome in a listener's or cluster's `ssl.*` counters.
    public static func count(_ outcome: TLSOutcome, in stats: StatsScope, ssl: SSLStat) {
        switch outcome {
        case .handshake: stats.increment(ssl.handshake)
        case .failVerifyNoCert: stats.increment(ssl.failVerifyNoCert)
        case .failVerifySAN: stats.increment(ssl.failVerifySAN)
        case .failVerifyError: stats.increment(ssl.failVerifyError)
        case .connectionError: stats.increment(ssl.connectionError)
        case .notStarted: break
        }
    }
}

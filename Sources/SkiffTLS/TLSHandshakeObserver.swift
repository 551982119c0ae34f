import NIOCore
import NIOSSL
import NIOTLS
import SkiffCore

/// How a TLS handshake ended, in Envoy's `ssl.*` stat terms.
public enum TLSOutcome: Sendable, Equatable {
    /// `ssl.handshake`: done, SANs matched.
    case handshake
    /// `ssl.fail_verify_no_cert`: a certificate was required and none was sent.
    case failVerifyNoCert
    /// `ssl.fail_verify_san`: the chain was trusted but no SAN matched.
    case failVerifySAN
    /// `ssl.fail_verify_error`: the chain did not verify.
    case failVerifyError
    /// `ssl.connection_error`: any other TLS failure (protocol, version, plaintext).
    case connectionError(String)
    /// The connection went away before a handshake began (a TCP connect that failed): not counted.
    case notStarted
}

/// Sits after NIOSSL's handler: checks the peer's SANs once the handshake completes (the chain
/// itself was verified by BoringSSL), learns the peer's identity, classifies failures for the
/// `ssl.*` stats, and closes the connection on any of them.
///
/// `onDone` runs once per connection with the outcome and, on success, the peer's identity (nil
/// when the peer sent no certificate) and the negotiated ALPN protocol.
public final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    private let sanMatchers: [SANMatcher]
    /// Without `require_client_certificate`, a client that sends no certificate is accepted
    /// even where SANs are matched (only a presented certificate must match), as in Envoy.
    private let certificateRequired: Bool
    private var onDone: ((TLSOutcome, PeerIdentity?, String?) -> Void)?
    /// The peer failed verification: nothing it sent goes further while TLS shuts down (a TLS 1.3
    /// client may send its request before it learns it was refused).
    private var refused = false

    /// What the in-handshake verifier found, when one runs.
    private let note: TLSVerifier.Note?

    public init(
        sanMatchers: [SANMatcher], certificateRequired: Bool = true, note: TLSVerifier.Note? = nil,
        onDone: @escaping (TLSOutcome, PeerIdentity?, String?) -> Void
    ) {
        self.sanMatchers = sanMatchers
        self.certificateRequired = certificateRequired
        self.note = note
        self.onDone = onDone
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted(let alpn) = event {
            let certificate = (try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self))?.peerCertificate
            let identity = certificate.map(PeerIdentity.init)
            if !sanMatchers.isEmpty, identity != nil || certificateRequired, !(identity?.matches(sanMatchers) ?? false) {
                refused = true
                finish(identity == nil ? .failVerifyNoCert : .failVerifySAN, identity: identity, alpn: alpn)
                context.close(promise: nil)
                return
            }
            finish(.handshake, identity: identity, alpn: alpn)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        context.fireChannelRead(data)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if onDone != nil {
            refused = true
            finish(note?.outcome ?? Self.classify(error), identity: nil, alpn: nil)
            context.close(promise: nil)
        }
        context.fireErrorCaught(error)
    }

    /// A channel whose connect failed never becomes active: whoever waits still hears about it.
    public func handlerRemoved(context: ChannelHandlerContext) {
        if onDone != nil { finish(.notStarted, identity: nil, alpn: nil) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // Closed before the handshake finished (a plaintext client, a port scan).
        if onDone != nil { finish(.connectionError("closed during the handshake"), identity: nil, alpn: nil) }
        context.fireChannelInactive()
    }

    private func finish(_ outcome: TLSOutcome, identity: PeerIdentity?, alpn: String?) {
        let done = onDone
        onDone = nil
        done?(outcome, identity, alpn)
    }

    /// BoringSSL's reasons, as Envoy counts them.
    static func classify(_ error: any Error) -> TLSOutcome {
        let text = String(describing: error)
        if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || text.contains("CERTIFICATE_REQUIRED") {
            return .failVerifyNoCert
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return .failVerifyError
        }
        return .connectionError(text)
    }
}

@available(*, unavailable)
extension TLSHandshakeObserver: Sendable {}

import NIOCore
import SkiffUpstream
import SkiffCore
import SkiffRouting
import SkiffTelemetry
import SkiffTLS

/// `envoy.filters.network.rbac`: decides on a connection's first bytes (after any TLS
/// handshake, so the peer's identity is known), closes it when denied, and then steps aside.
final class NetworkRBACHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let config: RBACFilterConfig
    private let session: TLSSession?
    private let stats: StatsScope
    private let worker: Worker
    private var decided = false

    init(config: RBACFilterConfig, session: TLSSession?, stats: StatsScope, worker: Worker) {
        self.config = config
        self.session = session
        self.stats = stats
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else {
            context.fireChannelRead(data)
            return
        }
        decided = true
        let channel = context.channel
        let subject = RBACEngine.Subject(
            remoteIP: channel.remoteAddress?.ipAddress, localIP: channel.localAddress?.ipAddress, localPort: channel.localAddress?.port,
            serverName: session?.serverName, peerURIs: session?.peer?.uris ?? [], peerDNSNames: session?.peer?.dnsNames ?? [],
            peerSubject: session?.peer?.subject, authenticated: session?.peer != nil
        )
        if let shadow = config.shadowRules {
            stats.increment(RBACEngine.evaluate(shadow, subject).allowed ? RBACStat.shadowAllowed : RBACStat.shadowDenied)
        }
        if let rules = config.rules {
            let decision = RBACEngine.evaluate(rules, subject)
            stats.increment(decision.allowed ? RBACStat.allowed : RBACStat.denied)
            guard decision.allowed else {
                worker.logEvent(
                    "rbac: closed connection from \(channel.remoteAddress?.description ?? "?") as \(session?.peer?.principal ?? "(no client certificate)"): "
                        + (decision.policy.map { "matched policy \($0) (\(rules.action))" } ?? "no policy matched (\(rules.action))")
                )
                context.close(promise: nil)
                return
            }
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension NetworkRBACHandler: Sendable {}

import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SkiffCore
import Testing
@testable import SkiffTLS

/// Real TLS 1.2 handshakes over 127.0.0.1 against the contexts Skiff builds: BoringSSL's server
/// session cache (up to 20,480 sessions, each with the peer's chain) must stay empty. TLS 1.3
/// sessions are never cached server-side, nor TLS 1.2 ones resumed by ticket, so the client here
/// is a TLS 1.2 peer without tickets (as Java clients before 13 are).
struct BoringSSLTuningTests {
    @Test func skiffServerContextsKeepNoSessions() async throws {
        let mint = try CertificateMint()
        let leaf = try mint.issue(commonName: "backend", dnsNames: ["localhost"])
        let pair = CertificateKeyPair(chain: .inline(Array(leaf.certificatePEM.utf8)), privateKey: .inline(Array(leaf.privateKeyPEM.utf8)))
        let lookup = TLSContextRegistry().server(DownstreamTLSConfig(common: CommonTLSConfig(certificates: [pair])))
        let skiffContext = try #require(lookup.context, "\(lookup.error ?? "")")

        // The control: the same certificate in a context Skiff did not tune caches every session,
        // so the count below is real (and would be 3 without the tuning).
        let untuned = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(leaf.certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(leaf.privateKeyPEM.utf8), format: .pem))
        ))

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        for context in [skiffContext, untuned] {
            for _ in 0..<3 { try await handshake(serverContext: context, group: group) }
        }
        #expect(BoringSSLTuning.cachedSessions(untuned) == 3)
        #expect(BoringSSLTuning.cachedSessions(skiffContext) == 0)
        try await group.shutdownGracefully()
    }

    /// One full handshake: a client connects, completes TLS, and closes.
    private func handshake(serverContext: NIOSSLContext, group: MultiThreadedEventLoopGroup) async throws {
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateVerification = .none
        client.maximumTLSVersion = .tlsv12
        let clientContext = try NIOSSLContext(configuration: client)
        BoringSSLTuning.disableTickets(clientContext)
        let done = group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: clientContext, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(HandshakeWaiter(done: done))
                }
            }
            .connect(to: server.localAddress!).get()
        try await done.futureResult.get()
        // The server records its session when it has read the client's Finished: a round trip
        // of data after the handshake guarantees it has.
        try await channel.writeAndFlush(ByteBuffer(string: "ping")).get()
        try await Task.sleep(for: .milliseconds(50))
        try await channel.close()
        try await server.close()
    }
}

private final class HandshakeWaiter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { done.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
    }
}

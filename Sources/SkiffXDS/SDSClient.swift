import EnvoyAPI
internal import GRPCCore
internal import GRPCNIOTransportHTTP2Posix
internal import GRPCProtobuf
import Logging
import SkiffConfig
import SkiffCore

/// Where secrets from a separate SDS source go (the server: TLS contexts, then ADS warming).
public protocol SecretSink: Sendable {
    func secretsArrived(_ secrets: [String: TLSSecret], from source: String) async
}

/// SDS from its own gRPC source — `SecretDiscoveryService/StreamSecrets`, state of the world — as
/// istio-agent serves it on a Unix socket (`sds-grpc`, secrets `default` and `ROOTCA`).
///
/// Control plane, not data path: an actor that keeps one stream open to the source, asks for
/// every name subscribed so far, applies what arrives through the sink and ACKs it (NACKs name
/// the secret and the field), and reconnects with the same jittered back-off as ADS. Secrets it
/// delivered stay in use while the source is away.
public actor SDSClient {
    private let source: String
    private let target: SocketAddressConfig
    private let node: Envoy_Config_Core_V3_Node
    private let sink: any SecretSink
    private let logger: Logger
    private var names: Set<String> = []
    private var version = ""
    private var nonce = ""
    private var outbound: AsyncStream<Envoy_Service_Discovery_V3_DiscoveryRequest>.Continuation?
    private var backoff = Backoff()
    static let typeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

    public init(source: String, target: SocketAddressConfig, nodeBytes: [UInt8], sink: any SecretSink, logger: Logger) {
        self.source = source
        self.target = target
        var node = (try? Envoy_Config_Core_V3_Node(serializedBytes: nodeBytes)) ?? Envoy_Config_Core_V3_Node()
        if node.userAgentName.isEmpty { node.userAgentName = "envoy" }
        self.node = node
        self.sink = sink
        self.logger = logger
    }

    /// Adds names to the subscription; a new request goes out on the open stream.
    public func subscribe(_ more: Set<String>) {
        let next = names.union(more)
        guard next != names else { return }
        names = next
        outbound?.yield(request(errorDetail: nil))
    }

    private func request(errorDetail: String?) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
        var out = Envoy_Service_Discovery_V3_DiscoveryRequest()
        out.node = node
        out.typeURL = Self.typeURL
        out.resourceNames = names.sorted()
        out.versionInfo = version
        out.responseNonce = nonce
        if let errorDetail {
            out.errorDetail = .with { $0.code = XDSWire.nackCode; $0.message = errorDetail }
        }
        return out
    }

    /// Runs until cancelled.
    public func run() async {
        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try HTTP2ClientTransport.Posix(target: ADSClient.target(target), transportSecurity: .plaintext)
        } catch {
            logger.error("SDS \(source): cannot reach \(target): \(error)")
            return
        }
        let client = GRPCClient(transport: transport)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.runConnections() }
            group.addTask { await self.streamLoop(client) }
            await group.next()
            group.cancelAll()
            client.beginGracefulShutdown()
            await group.waitForAll()
        }
    }

    private func streamLoop(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async {
        while !Task.isCancelled {
            do {
                try await runStream(client)
                logger.info("SDS \(source): stream closed by the source")
            } catch {
                if Task.isCancelled { break }
                logger.warning("SDS \(source): stream failed: \(error)")
            }
            outbound?.finish()
            outbound = nil
            try? await Task.sleep(for: .milliseconds(Int(backoff.next() * 1000)))
        }
    }

    private func startStream() -> AsyncStream<Envoy_Service_Discovery_V3_DiscoveryRequest> {
        let (stream, continuation) = AsyncStream<Envoy_Service_Discovery_V3_DiscoveryRequest>.makeStream(bufferingPolicy: .bufferingNewest(64))
        outbound = continuation
        // A new stream asks again for every name, with the version held (nonce cleared).
        nonce = ""
        continuation.yield(request(errorDetail: nil))
        return stream
    }

    private func established() {
        backoff.reset()
    }

    private func runStream(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
        let requests = startStream()
        let request = StreamingClientRequest(of: Envoy_Service_Discovery_V3_DiscoveryRequest.self) { writer in
            await self.established()
            for await next in requests {
                try await writer.write(next)
            }
        }
        var options = CallOptions.defaults
        options.waitForReady = false
        try await client.bidirectionalStreaming(
            request: request,
            descriptor: MethodDescriptor(fullyQualifiedService: "envoy.service.secret.v3.SecretDiscoveryService", method: "StreamSecrets"),
            serializer: ProtobufSerializer<Envoy_Service_Discovery_V3_DiscoveryRequest>(),
            deserializer: ProtobufDeserializer<Envoy_Service_Discovery_V3_DiscoveryResponse>(),
            options: options
        ) { response in
            for try await message in response.messages {
                await self.handle(message)
            }
        }
    }

    private func handle(_ response: Envoy_Service_Discovery_V3_DiscoveryResponse) async {
        guard response.typeURL == Self.typeURL else { return }
        var secrets: [String: TLSSecret] = [:]
        var errors: [String] = []
        for any in response.resources {
            do {
                let secret = try Envoy_Extensions_TransportSockets_Tls_V3_Secret(unpackingAny: any)
                do {
                    secrets[secret.name] = try ResourceTranslator.secret(secret)
                } catch {
                    errors.append("secret \"\(secret.name)\": \(error)")
                }
            } catch {
                errors.append("cannot decode a secret: \(error)")
            }
        }
        if !secrets.isEmpty {
            await sink.secretsArrived(secrets, from: source)
        }
        nonce = response.nonce
        if errors.isEmpty {
            version = response.versionInfo
            outbound?.yield(request(errorDetail: nil))
        } else {
            logger.warning("SDS \(source): rejected \(errors.joined(separator: "; "))")
            outbound?.yield(request(errorDetail: errors.joined(separator: "; ")))
        }
    }
}

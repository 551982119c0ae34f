import NIOCore
import NIOHTTP1
import NIOPosix
import SkiffCore

/// Envoy's admin HTTP endpoint on `admin.address` (control plane, async/await).
///
/// Each connection is served by a child task; a request's response is computed by `AdminRouter`
/// and written back. Bodies of admin requests are ignored (none of the endpoints take one).
public final class AdminServer: Sendable {
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let backend: any AdminBackend
    /// The address actually bound.
    public let address: SocketAddress

    private init(channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>, backend: any AdminBackend) {
        self.channel = channel
        self.backend = backend
        self.address = channel.channel.localAddress!
    }

    public static func bind(host: String, port: Int, group: any EventLoopGroup, backend: any AdminBackend) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: child
                    )
                }
            }
        return AdminServer(channel: channel, backend: backend)
    }

    /// Serves until the task is cancelled or `close()` is called.
    public func run() async {
        await withDiscardingTaskGroup { group in
            do {
                try await channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            } catch {
                // The listening socket closed: stop serving.
            }
        }
    }

    public func close() async {
        try? await channel.channel.close()
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                    case .body:
                        break
                    case .end:
                        guard let request = head else { continue }
                        let response = await AdminRouter.handle(method: request.method.rawValue, uri: request.uri, backend: backend)
                        var headers = HTTPHeaders()
                        headers.add(name: "content-type", value: response.contentType)
                        headers.add(name: "content-length", value: String(response.body.utf8.count))
                        headers.add(name: "cache-control", value: "no-cache, max-age=0")
                        headers.add(name: "x-content-type-options", value: "nosniff")
                        if !request.isKeepAlive {
                            headers.add(name: "connection", value: "close")
                        }
                        try await outbound.write(.head(HTTPResponseHead(
                            version: request.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers
                        )))
                        if request.method != .HEAD {
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: response.body))))
                        }
                        try await outbound.write(.end(nil))
                        if !request.isKeepAlive { return }
                        head = nil
                    }
                }
            }
        } catch {
            // A broken admin connection only affects itself.
        }
    }
}

import NIOCore
import NIOHTTP1
import SkiffCore

/// What a request holds while it talks to an upstream: an HTTP/1.1 connection it has to itself
/// (`UpstreamHTTP1Connection`) or one stream of a shared HTTP/2 connection
/// (`UpstreamHTTP2Stream`). Both speak HTTP/1-shaped parts; NIO's codec turns them into HTTP/2
/// frames on a stream. Used on the worker's event loop only.
public protocol UpstreamExchange: AnyObject {
    /// Whether the upstream takes more bytes now (socket or stream flow-control window).
    var isWritable: Bool { get }
    /// Attaches the request; response parts go to `handler`.
    func begin(_ handler: any UpstreamResponseHandler)
    func write(_ part: HTTPClientRequestPart, flush: Bool)
    func flush()
    /// Stops or resumes reading the response (downstream back-pressure).
    func setHoldReads(_ hold: Bool)
    /// The exchange completed: the connection goes back to its pool (or the stream ends).
    func finish()
    /// The exchange is abandoned (reset, timeout, downstream gone).
    func abort()
    /// The server accepted a protocol upgrade: raw bytes flow through `tunnel` from now on.
    /// False where the transport cannot (an HTTP/2 stream).
    func upgrade(to tunnel: any ChannelHandler) -> Bool
}

/// How a pool hands out exchanges.
public typealias UpstreamAcquireCompletion = (Result<any UpstreamExchange, ProxyError>) -> Void

extension UpstreamHTTP1Connection: UpstreamExchange {}

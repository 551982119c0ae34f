import NIOCore
import NIOHTTP1
import SkiffCore

/// What an upstream HTTP/1.1 connection reports to the request currently using it.
///
/// Called on the worker's event loop; the receiver is the downstream stream that owns the
/// exchange, which forwards parts with back-pressure.
public protocol UpstreamResponseHandler: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ buffer: ByteBuffer)
    func upstreamResponseEnd(_ trailers: HTTPHeaders?)
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ error: ProxyError)
    /// The upstream socket's write buffer crossed a water mark.
    func upstreamWritabilityChanged(isWritable: Bool)
    /// A read burst from the upstream ended: what it produced goes out downstream now, in one
    /// flush (body parts are written without flushing each).
    func upstreamReadComplete()
}

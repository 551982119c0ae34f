import NIOCore
import NIOHTTP1
import NIOHTTP2
import SkiffCore
import SkiffTLS
import SkiffUpstream

/// What a listener asks of a downstream HTTP connection when it is updated or removed.
public protocol HTTPDrainable: AnyObject {
    /// No new requests; close by `deadline` whatever is still running.
    func startDrain(closeAt deadline: NIODeadline)
}

/// Builds the pipeline of a downstream HTTP connection by `codec_type`: HTTP/1.1 (NIO's codec
/// with Skiff's header limits, pipelining kept in order, the connection manager, and the
/// request-start observer when `request_headers_timeout` is set), HTTP/2 (NIO's HTTP/2 handler,
/// a connection manager per stream, `HTTP2ConnectionHandler` for the connection), or AUTO:
/// `HTTPCodecSelector` waits for the first bytes and picks HTTP/2 on its preface.
public enum HTTPPipeline {
    @discardableResult
    public static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, config: HTTPConnectionManagerConfig, worker: Worker,
        tlsSession: TLSSession? = nil
    ) throws -> any HTTPDrainable {
        switch config.codecType {
        case .http1:
            return try configureHTTP1(pipeline, config: config, worker: worker, tlsSession: tlsSession)
        case .http2:
            return try configureHTTP2(pipeline, config: config, worker: worker, tlsSession: tlsSession)
        case .auto:
            let selector = HTTPCodecSelector(config: config, worker: worker, tlsSession: tlsSession)
            try pipeline.addHandler(selector)
            return selector
        }
    }

    /// `bytesArrived`: the codec is chosen after the first bytes (AUTO), which the request-start
    /// observer, added now, did not see: the request has started.
    static func configureHTTP1(
        _ pipeline: ChannelPipeline.SynchronousOperations, config: HTTPConnectionManagerConfig, worker: Worker,
        tlsSession: TLSSession?, bytesArrived: Bool = false
    ) throws -> HTTPConnectionManagerHandler {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = config.maxRequestHeadersBytes
        limits.maxHeaderFieldSize = config.maxRequestHeadersBytes
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: true,
            withErrorHandling: false,
            withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: limits
        )
        let manager = HTTPConnectionManagerHandler(config: config, worker: worker)
        manager.tlsSession = tlsSession
        if config.requestHeadersTimeout != nil {
            try pipeline.addHandler(RequestStartObserver(manager: manager), position: .first)
        }
        try pipeline.addHandler(manager)
        if bytesArrived, config.requestHeadersTimeout != nil {
            manager.requestBytesArrived()
        }
        return manager
    }

    /// NIO's HTTP/2 handler with the listener's `http2_protocol_options` (advertised stream limit
    /// and window; the window also bounds what a stream buffers while its reader is slow), and a
    /// connection manager per stream behind NIO's HTTP/2 ↔ HTTP/1 codec; the connection's flushes
    /// coalesced per loop tick.
    static func configureHTTP2(
        _ pipeline: ChannelPipeline.SynchronousOperations, config: HTTPConnectionManagerConfig, worker: Worker,
        tlsSession: TLSSession?
    ) throws -> HTTP2ConnectionHandler {
        let options = config.http2
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: options.maxConcurrentStreams),
            HTTP2Setting(parameter: .initialWindowSize, value: options.initialStreamWindowSize),
            HTTP2Setting(parameter: .maxHeaderListSize, value: config.maxRequestHeadersBytes),
        ]
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = options.initialStreamWindowSize
        let loop = pipeline.eventLoop
        let bound = NIOLoopBound((worker, tlsSession), eventLoop: loop)
        let handler = HTTP2ConnectionHandler(config: config, worker: worker, isTLS: tlsSession != nil)
        let tracker = HTTP2StreamTracker(handler: NIOLoopBound(handler, eventLoop: loop))
        // Streams' responses leave together, once per loop tick (see FlushCoalescingHandler).
        try pipeline.addHandler(FlushCoalescingHandler())
        _ = try pipeline.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream, streamDelegate: tracker
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                let (worker, tlsSession) = bound.value
                let sync = streamChannel.pipeline.syncOperations
                try sync.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                let manager = HTTPConnectionManagerHandler(config: config, worker: worker, http2Stream: true)
                manager.tlsSession = tlsSession
                try sync.addHandler(manager)
            }
        }
        try pipeline.addHandler(handler)
        return handler
    }
}

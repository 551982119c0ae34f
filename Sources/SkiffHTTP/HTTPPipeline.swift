import NIOCore
import NIOHTTP1
import SkiffCore
import SkiffTLS
import SkiffUpstream

/// Builds the pipeline of a downstream HTTP/1.1 connection: NIO's codec with Skiff's header
/// limits, pipelining kept in order, and the connection manager; plus the request-start observer
/// when `request_headers_timeout` is set.
public enum HTTPPipeline {
    @discardableResult
    public static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, config: HTTPConnectionManagerConfig, worker: Worker,
        tlsSession: TLSSession? = nil
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
        return manager
    }
}

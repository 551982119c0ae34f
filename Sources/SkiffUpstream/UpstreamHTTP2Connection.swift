import NIOCore
import NIOHTTP1
import NIOHTTP2
import SkiffCore

/// One HTTP/2 connection to an upstream host, shared by many requests' streams: it sits after
/// NIO's HTTP/2 handler, learns the server's stream limit from its SETTINGS, and stops taking new
/// streams on GOAWAY (the pool then opens another connection; streams the server did not process
/// fail as refused and are sent again). Lives on the worker's event loop with its pool.
final class UpstreamHTTP2Connection: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    weak var pool: HTTP2ConnectionPool?
    var multiplexer: NIOHTTP2Handler.StreamMultiplexer?
    private var context: ChannelHandlerContext?
    /// Streams open now, and opened over the connection's life.
    private(set) var openStreams = 0
    private(set) var streamsOpened = 0
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says), capped by the
    /// cluster's `max_concurrent_streams`.
    private var serverLimit = Int.max
    private let configuredLimit: Int
    /// `max_requests_per_connection`: after this many streams the connection takes no more.
    private let maxStreamsPerConnection: Int?
    private(set) var goingAway = false
    /// The last stream the server's GOAWAY lets finish (nil: no GOAWAY yet).
    private(set) var goAwayLastStreamID: HTTP2StreamID?
    /// Set once the connection is usable (connected, TLS done, preface sent).
    var established = false
    /// Monotonic nanoseconds when the pool began connecting, for `upstream_cx_connect_ms` and
    /// `upstream_cx_length_ms`.
    var startedAt: UInt64 = ContinuousClockReading.now()
    /// The cluster's `max_connections` slot, released once when the connection closes.
    var resources: ClusterResources?
    var hostSlot: HostHealth?
    private var idleTimer: IdleTimer?
    let useTLS: Bool
    /// See `UpstreamHTTP2Stream.startTimeout`.
    var startTimeout: TimeAmount = .seconds(5)
    /// Streams open on this connection (to refuse the ones not started when GOAWAY arrives).
    private var streams: [ObjectIdentifier: UpstreamHTTP2Stream] = [:]

    init(configuredLimit: Int, maxStreamsPerConnection: Int?, useTLS: Bool) {
        self.configuredLimit = configuredLimit
        self.maxStreamsPerConnection = maxStreamsPerConnection
        self.useTLS = useTLS
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    /// Room for one more stream now.
    var hasCapacity: Bool {
        guard established, !goingAway, isActive else { return false }
        if let max = maxStreamsPerConnection, streamsOpened >= max { return false }
        return openStreams < min(serverLimit, configuredLimit)
    }

    func releaseSlot() {
        resources?.release(.connections)
        resources = nil
        hostSlot?.connections.subtract(1, ordering: .relaxed)
        hostSlot = nil
    }

    /// Opens a stream for one request; `completion` gets it ready to write, or the failure.
    func openStream(_ completion: @escaping UpstreamAcquireCompletion) {
        guard let multiplexer, let context else {
            completion(.failure(ProxyError(.upstreamReset(beforeHeaders: true))))
            return
        }
        openStreams += 1
        streamsOpened += 1
        idleTimer?.suspend()
        if let max = maxStreamsPerConnection, streamsOpened >= max {
            pool?.connectionReachedMaxRequests(self)
        }
        let stream = UpstreamHTTP2Stream()
        stream.connection = self
        stream.startTimeout = startTimeout
        let key = ObjectIdentifier(stream)
        streams[key] = stream
        stream.onClose = { [weak self] in
            self?.streams.removeValue(forKey: key)
            self?.streamClosed()
        }
        let bound = NIOLoopBound(stream, eventLoop: context.eventLoop)
        let scheme: HTTP2FramePayloadToHTTP1ClientCodec.HTTPProtocol = useTLS ? .https : .http
        let promise = context.eventLoop.makePromise(of: (any Channel).self)
        multiplexer.createStreamChannel(promise: promise) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: scheme))
                try channel.pipeline.syncOperations.addHandler(bound.value)
            }
        }
        promise.futureResult.assumeIsolatedUnsafeUnchecked().whenComplete { result in
            switch result {
            case .success:
                completion(.success(stream))
            case .failure:
                if stream.onClose != nil {
                    stream.onClose = nil
                    self.streams.removeValue(forKey: key)
                    self.streamClosed()
                }
                completion(.failure(ProxyError(.refusedStream)))
            }
        }
    }

    private func streamClosed() {
        openStreams -= 1
        pool?.streamClosed(on: self)
        if openStreams == 0 {
            if goingAway {
                context?.close(promise: nil)
            } else {
                idleTimer?.resume()
            }
        }
    }

    /// No new streams (GOAWAY, max requests, a host removed); close once the open ones end.
    func retire() {
        goingAway = true
        if openStreams == 0 { context?.close(promise: nil) }
    }

    func startIdleTimer(_ timeout: TimeAmount?, onExpiry: @escaping () -> Void) {
        guard let timeout, let context, idleTimer == nil else { return }
        idleTimer = IdleTimer(eventLoop: context.eventLoop, timeout: timeout, onExpiry: onExpiry)
        if openStreams == 0 { idleTimer?.resume() }
    }

    func close() {
        goingAway = true
        idleTimer?.cancel()
        context?.close(promise: nil)
    }

    // MARK: ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .settings(.settings(let settings)):
            for setting in settings where setting.parameter == .maxConcurrentStreams {
                serverLimit = setting.value
                pool?.capacityChanged(on: self)
            }
        case .goAway(let lastStreamID, _, _):
            goAwayLastStreamID = min(goAwayLastStreamID ?? lastStreamID, lastStreamID)
            goingAway = true
            context.fireChannelRead(data)
            // Streams opened here whose HEADERS have not gone out never will: send them elsewhere.
            for stream in Array(streams.values) { stream.refuseIfNotStarted() }
            pool?.connectionGoingAway(self)
            if openStreams == 0 { context.close(promise: nil) }
            return
        default:
            break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        goingAway = true
        idleTimer?.cancel()
        idleTimer = nil
        releaseSlot()
        if established {
            pool?.connectionClosed(self)
        }
        context.fireChannelInactive()
    }

    /// NIO's HTTP/2 handler closes the connection itself on a connection error (after GOAWAY);
    /// anything else here concerns one stream, which that stream's handler hears about.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is IOError { context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension UpstreamHTTP2Connection: Sendable {}

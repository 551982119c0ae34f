/// The lifecycle of one downstream HTTP/1.1 connection: which stream is active, whether the
/// connection is kept alive, and what to do when a request or response ends.
///
/// HTTP/1.1 carries one exchange at a time (pipelined requests wait in NIO's
/// `HTTPServerPipelineHandler`). A stream is finished when both its request and its response
/// have ended; the connection then goes idle or, if keep-alive was lost, closes.
struct HTTP1ConnectionStateMachine {
    enum State: Equatable {
        /// Waiting for a request head.
        case idle
        /// A stream is active.
        case active(requestEnded: Bool, responseEnded: Bool)
        /// The connection is closing; ignore further input.
        case closing
    }

    enum Action: Equatable {
        case none
        /// Begin routing the new stream.
        case startStream
        /// The stream is done; wait for the next request (arm the idle timer).
        case becomeIdle
        /// The stream is done and the connection must close once the response is flushed.
        case closeAfterFlush
    }

    private(set) var state: State = .idle
    /// Whether the connection may carry another request.
    private(set) var keepAlive = true
    private(set) var requestCount = 0
    let maxRequestsPerConnection: Int?

    init(maxRequestsPerConnection: Int?) {
        self.maxRequestsPerConnection = maxRequestsPerConnection
    }

    /// A request head arrived. `requestKeepAlive` is HTTP's own verdict (version and `Connection`).
    mutating func requestHead(requestKeepAlive: Bool) -> Action {
        guard state == .idle else { return .none }
        requestCount += 1
        if !requestKeepAlive {
            keepAlive = false
        }
        if let max = maxRequestsPerConnection, requestCount >= max {
            keepAlive = false
        }
        state = .active(requestEnded: false, responseEnded: false)
        return .startStream
    }

    mutating func requestEnd() -> Action {
        guard case .active(_, let responseEnded) = state else { return .none }
        if responseEnded {
            return finish()
        }
        state = .active(requestEnded: true, responseEnded: false)
        return .none
    }

    /// The response is about to start: whether it may keep the connection open.
    ///
    /// A response may complete before its request does (a local reply sent as soon as the head
    /// is routed); the connection then stays in the stream until the request's end arrives, and
    /// the handler discards the rest of the request body (bounded) instead of reading it as a
    /// new request.
    func responseStarting() -> Bool {
        keepAlive
    }

    mutating func responseEnd() -> Action {
        guard case .active(let requestEnded, _) = state else { return .none }
        if requestEnded || !keepAlive {
            return finish()
        }
        state = .active(requestEnded: false, responseEnded: true)
        return .none
    }

    /// Drain, protocol error or timeout: no more requests on this connection.
    mutating func closeRequested() {
        keepAlive = false
    }

    mutating func closed() {
        state = .closing
    }

    private mutating func finish() -> Action {
        if keepAlive {
            state = .idle
            return .becomeIdle
        }
        state = .closing
        return .closeAfterFlush
    }
}

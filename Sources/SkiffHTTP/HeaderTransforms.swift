import NIOCore
import NIOHTTP1
import SkiffCore

/// The header rewriting the connection manager and router do, as pure functions of the request,
/// the route and the connection, so each rule is unit-tested without sockets.
public enum HeaderTransforms {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) that never cross the proxy. `transfer-encoding` and
    /// `content-length` are kept: they frame the body the proxy streams through unchanged.
    static let hopByHop: [String] = ["connection", "keep-alive", "proxy-connection", "upgrade", "te"]

    /// Removes hop-by-hop headers and any header the `Connection` header nominates.
    public static func removeHopByHop(_ headers: inout HTTPHeaders) {
        for nominated in headers[canonicalForm: "connection"] {
            let name = nominated.lowercased()
            if name != "close" && name != "keep-alive" && !isFraming(name) {
                headers.remove(name: name)
            }
        }
        for name in hopByHop where headers.contains(name: name) {
            if name == "te" {
                // `te: trailers` is end to end for gRPC; anything else is dropped.
                let keep = headers[canonicalForm: "te"].contains { $0.lowercased() == "trailers" }
                headers.remove(name: "te")
                if keep { headers.add(name: "te", value: "trailers") }
            } else {
                headers.remove(name: name)
            }
        }
    }

    private static func isFraming(_ name: String) -> Bool {
        name == "content-length" || name == "transfer-encoding"
    }

    /// What the connection knows about the downstream peer.
    public struct DownstreamInfo {
        public var remoteIP: String?
        public var useRemoteAddress: Bool
        public var skipXFFAppend: Bool
        public var generateRequestID: Bool
        /// The downstream connection is TLS (`x-forwarded-proto: https`).
        public var isTLS = false
        public var forwardClientCert: ForwardClientCert = .sanitize
        /// This connection's `x-forwarded-client-cert` element (nil: no client certificate).
        public var clientCert: String?

        public init(remoteIP: String?, useRemoteAddress: Bool, skipXFFAppend: Bool, generateRequestID: Bool) {
            self.remoteIP = remoteIP
            self.useRemoteAddress = useRemoteAddress
            self.skipXFFAppend = skipXFFAppend
            self.generateRequestID = generateRequestID
        }
    }

    /// The head sent upstream for a downstream request that matched `route` (Envoy's
    /// `ConnectionManagerUtility::mutateRequestHeaders` plus the router's additions).
    public static func upstreamRequestHead(
        _ request: HTTPRequestHead,
        path: String,
        action: ForwardAction,
        mutations: [HeaderMutations],
        downstream: DownstreamInfo,
        requestID: String? = nil,
        random: inout FastRandom
    ) -> HTTPRequestHead {
        var headers = request.headers
        removeHopByHop(&headers)
        if let host = action.hostRewrite {
            headers.replaceOrAdd(name: "host", value: host)
        }
        if downstream.useRemoteAddress, !downstream.skipXFFAppend, let ip = downstream.remoteIP {
            if let existing = headers.first(name: "x-forwarded-for"), !existing.isEmpty {
                headers.replaceOrAdd(name: "x-forwarded-for", value: existing + "," + ip)
            } else {
                headers.replaceOrAdd(name: "x-forwarded-for", value: ip)
            }
        }
        if !headers.contains(name: "x-forwarded-proto") {
            headers.add(name: "x-forwarded-proto", value: downstream.isTLS ? "https" : "http")
        }
        forwardClientCert(&headers, downstream)
        if let requestID {
            // The tracer's id (it made one if none came, and stamped its decision in it).
            setRequestID(&headers, requestID)
        } else if downstream.generateRequestID, !headers.contains(name: "x-request-id") {
            headers.add(name: "x-request-id", value: RequestID.make(&random))
        }
        if let timeout = action.timeout {
            headers.replaceOrAdd(name: "x-envoy-expected-rq-timeout-ms", value: String(timeout.nanoseconds / 1_000_000))
        }
        for mutation in mutations {
            apply(mutation, to: &headers)
        }
        return HTTPRequestHead(version: .http1_1, method: request.method, uri: path, headers: headers)
    }

    /// Sets `x-request-id`, rewriting the header only when it differs (the common case is the
    /// id the client sent, unchanged, or none yet).
    static func setRequestID(_ headers: inout HTTPHeaders, _ requestID: String) {
        if let current = headers.first(name: "x-request-id") {
            if current != requestID { headers.replaceOrAdd(name: "x-request-id", value: requestID) }
        } else {
            headers.add(name: "x-request-id", value: requestID)
        }
    }

    /// `forward_client_cert_details`: what happens to `x-forwarded-client-cert`.
    static func forwardClientCert(_ headers: inout HTTPHeaders, _ downstream: DownstreamInfo) {
        let name = "x-forwarded-client-cert"
        switch downstream.forwardClientCert {
        case .alwaysForwardOnly:
            return
        case .sanitize:
            headers.remove(name: name)
        case .forwardOnly:
            if downstream.clientCert == nil { headers.remove(name: name) }
        case .appendForward:
            guard let current = downstream.clientCert else { headers.remove(name: name); return }
            if let existing = headers.first(name: name), !existing.isEmpty {
                headers.replaceOrAdd(name: name, value: existing + "," + current)
            } else {
                headers.replaceOrAdd(name: name, value: current)
            }
        case .sanitizeSet:
            guard let current = downstream.clientCert else { headers.remove(name: name); return }
            headers.replaceOrAdd(name: name, value: current)
        }
    }

    /// The head sent downstream for an upstream response.
    public static func downstreamResponseHead(
        _ response: HTTPResponseHead,
        requestVersion: HTTPVersion,
        serviceTimeMs: Int64?,
        serverName: String,
        date: String,
        mutations: [HeaderMutations],
        keepAlive: Bool
    ) -> HTTPResponseHead {
        var headers = response.headers
        removeHopByHop(&headers)
        if let serviceTimeMs {  // Envoy leaves it off a 101.
            headers.replaceOrAdd(name: "x-envoy-upstream-service-time", value: String(serviceTimeMs))
        }
        headers.replaceOrAdd(name: "date", value: date)
        headers.replaceOrAdd(name: "server", value: serverName)
        for mutation in mutations {
            apply(mutation, to: &headers)
        }
        if !keepAlive {
            headers.add(name: "connection", value: "close")
        }
        return HTTPResponseHead(version: requestVersion, status: response.status, headers: headers)
    }

    /// Applies one level's removals, then additions (`HeaderValueOption.append_action`).
    public static func apply(_ mutation: HeaderMutations, to headers: inout HTTPHeaders) {
        guard !mutation.isEmpty else { return }
        for name in mutation.remove {
            headers.remove(name: name)
        }
        for addition in mutation.add {
            switch addition.action {
            case .appendIfExistsOrAdd:
                headers.add(name: addition.name, value: addition.value)
            case .addIfAbsent:
                if !headers.contains(name: addition.name) {
                    headers.add(name: addition.name, value: addition.value)
                }
            case .overwriteIfExistsOrAdd:
                headers.replaceOrAdd(name: addition.name, value: addition.value)
            case .overwriteIfExists:
                if headers.contains(name: addition.name) {
                    headers.replaceOrAdd(name: addition.name, value: addition.value)
                }
            }
        }
    }
}

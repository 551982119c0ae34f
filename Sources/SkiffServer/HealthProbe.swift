import NIOCore
import NIOPosix
import SkiffCore

/// One active health check against one host: connect, send, read, judge, within the timeout.
enum HealthProbe {
    enum Result: Sendable, Equatable {
        case healthy
        /// The host answered, but not as expected (an unexpected status, missing bytes).
        case unhealthy
        /// Connect failure, reset or timeout.
        case networkFailure
    }

    static func run(_ check: HealthCheckConfig, address: SocketAddress, cluster: String, group: any EventLoopGroup) async -> Result {
        do {
            return try await withThrowingTaskGroup(of: Result.self) { tasks in
                tasks.addTask { try await probe(check, address: address, cluster: cluster, group: group) }
                tasks.addTask {
                    try await Task.sleep(for: .nanoseconds(check.timeout.nanoseconds))
                    return .networkFailure
                }
                let first = try await tasks.next() ?? .networkFailure
                tasks.cancelAll()
                return first
            }
        } catch {
            return .networkFailure
        }
    }

    private static func probe(_ check: HealthCheckConfig, address: SocketAddress, cluster: String, group: any EventLoopGroup) async throws -> Result {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(check.timeout)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var received = ByteBuffer()
            switch check.kind {
            case .http(let path, let host, let expected):
                let authority = host ?? cluster
                try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nhost: \(authority)\r\nuser-agent: Envoy/HC\r\nconnection: close\r\n\r\n"))
                for try await var chunk in inbound {
                    received.writeBuffer(&chunk)
                    let text = String(buffer: received)
                    guard let lineEnd = text.firstRange(of: "\r\n") else {
                        if received.readableBytes > 8192 { return .unhealthy }
                        continue
                    }
                    let parts = text[..<lineEnd.lowerBound].split(separator: " ")
                    guard parts.count >= 2, let status = Int(parts[1]) else { return .unhealthy }
                    return expected.contains { $0.contains(status) } ? .healthy : .unhealthy
                }
                return .networkFailure
            case .tcp(let send, let receive):
                if !send.isEmpty {
                    try await outbound.write(ByteBuffer(bytes: send))
                }
                if receive.isEmpty { return .healthy }
                for try await var chunk in inbound {
                    received.writeBuffer(&chunk)
                    let bytes = Array(received.readableBytesView)
                    if receive.allSatisfy({ contains(bytes, $0) }) { return .healthy }
                    if received.readableBytes > 64 * 1024 { return .unhealthy }
                }
                return .unhealthy
            }
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}

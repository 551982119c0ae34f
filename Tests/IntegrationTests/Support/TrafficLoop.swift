import NIOCore
import NIOPosix
import Synchronization

/// Continuous HTTP/1.1 traffic through the proxy on a few keep-alive connections, recording
/// which upstream answered each request and every failure, with timestamps, so a test can say
/// "zero failed requests" and "the split followed the push within a second".
final class TrafficLoop: Sendable {
    struct Outcome: Sendable {
        var at: ContinuousClock.Instant
        /// The upstream's name (from `hello from <name>`), or nil for a failure.
        var upstream: String?
        var detail: String
    }

    private let outcomes = Mutex<[Outcome]>([])
    private let task = Mutex<Task<Void, Never>?>(nil)
    let port: Int

    init(port: Int, connections: Int = 2) {
        self.port = port
        let running = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<connections {
                    group.addTask { await TrafficLoop.drive(port: port, record: { self.record($0) }) }
                }
            }
        }
        task.withLock { $0 = running }
    }

    private func record(_ outcome: Outcome) {
        outcomes.withLock { $0.append(outcome) }
    }

    private static func drive(port: Int, record: @Sendable (Outcome) -> Void) async {
        var client: RawClient?
        while !Task.isCancelled {
            do {
                if client == nil || client!.closed {
                    client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton)
                }
                let response = try await client!.get("/")
                let now = ContinuousClock.now
                if response.status == 200, response.body.hasPrefix("hello from ") {
                    let name = String(response.body.dropFirst("hello from ".count).prefix { $0 != "\n" })
                    record(Outcome(at: now, upstream: name, detail: ""))
                } else {
                    record(Outcome(at: now, upstream: nil, detail: "\(response.status) \(response.header("x-envoy-response-flags") ?? "") \(response.body)"))
                }
                if response.header("connection")?.lowercased() == "close" {
                    await client?.close()
                    client = nil
                }
            } catch {
                if Task.isCancelled { break }
                record(Outcome(at: ContinuousClock.now, upstream: nil, detail: "\(error)"))
                await client?.close()
                client = nil
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        await client?.close()
    }

    var all: [Outcome] { outcomes.withLock { $0 } }
    var failures: [Outcome] { all.filter { $0.upstream == nil } }

    /// Upstream counts for requests answered after `since`.
    func split(since: ContinuousClock.Instant) -> [String: Int] {
        var counts: [String: Int] = [:]
        for outcome in all where outcome.at >= since {
            if let name = outcome.upstream { counts[name, default: 0] += 1 }
        }
        return counts
    }

    /// Waits until at least `count` requests were answered after `since`.
    func waitForRequests(_ count: Int, since: ContinuousClock.Instant, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if all.filter({ $0.at >= since }).count >= count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestError("traffic stalled: \(all.suffix(5).map(\.detail))")
    }

    func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
    }
}

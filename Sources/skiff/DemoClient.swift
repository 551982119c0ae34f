import NIOCore
import NIOHTTP1
import NIOPosix

/// The demo's load driver: keep-alive HTTP/1.1 connections sending GETs in a loop and recording
/// which upstream answered (`x-upstream`), the status, and the latency.
enum DemoClient {
    struct Report: Sendable {
        var byUpstream: [String: Int] = [:]
        var byStatus: [Int: Int] = [:]
        var latenciesMicros: [Int] = []
        var failures = 0
        /// Who the apps were told called them (`x-peer-identity`), by upstream.
        var peers: [String: String] = [:]

        mutating func merge(_ other: Report) {
            byUpstream.merge(other.byUpstream, uniquingKeysWith: +)
            byStatus.merge(other.byStatus, uniquingKeysWith: +)
            latenciesMicros += other.latenciesMicros
            failures += other.failures
            peers.merge(other.peers) { a, _ in a }
        }

        func render() -> String {
            let total = byUpstream.values.reduce(0, +)
            var out = "\nsplit:\n"
            for (name, count) in byUpstream.sorted(by: { $0.key < $1.key }) {
                let percent = total == 0 ? 0 : Double(count) * 100 / Double(total)
                out += "  \(name): \(count) (\(String(format: "%.1f", percent))%)\n"
            }
            out += "status codes: " + byStatus.sorted(by: { $0.key < $1.key }).map { "\($0.key)×\($0.value)" }.joined(separator: " ") + "\n"
            let sorted = latenciesMicros.sorted()
            func percentile(_ p: Double) -> String {
                guard !sorted.isEmpty else { return "-" }
                let index = min(sorted.count - 1, Int(Double(sorted.count) * p))
                return String(format: "%.2f ms", Double(sorted[index]) / 1000)
            }
            out += "latency: p50 \(percentile(0.5))  p90 \(percentile(0.9))  p99 \(percentile(0.99))  max \(percentile(1.0))\n"
            if failures > 0 { out += "failures: \(failures)\n" }
            return out
        }
    }

    static func drive(host: String, port: Int, requests: Int, connections: Int, group: any EventLoopGroup) async throws -> Report {
        let perConnection = (0..<connections).map { requests / connections + ($0 < requests % connections ? 1 : 0) }
        return await withTaskGroup(of: Report.self) { tasks in
            for count in perConnection where count > 0 {
                tasks.addTask {
                    await runConnection(host: host, port: port, count: count, group: group)
                }
            }
            var total = Report()
            for await report in tasks {
                total.merge(report)
            }
            return total
        }
    }

    static func runConnection(host: String, port: Int, count: Int, group: any EventLoopGroup) async -> Report {
        var report = Report()
        do {
            let channel = try await ClientBootstrap(group: group).connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
            try await channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                for _ in 0..<count {
                    let start = ContinuousClock.now
                    var headers = HTTPHeaders()
                    headers.add(name: "host", value: "\(host):\(port)")
                    try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: headers)))
                    try await outbound.write(.end(nil))
                    var upstream = "(none)"
                    var status = 0
                    while let part = try await iterator.next() {
                        if case .head(let head) = part {
                            status = Int(head.status.code)
                            upstream = head.headers.first(name: "x-upstream") ?? "(local reply)"
                            if let peer = head.headers.first(name: "x-peer-identity") { report.peers[upstream] = peer }
                        }
                        if case .end = part { break }
                    }
                    let elapsed = ContinuousClock.now - start
                    report.latenciesMicros.append(Int(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000))
                    report.byUpstream[upstream, default: 0] += 1
                    report.byStatus[status, default: 0] += 1
                }
            }
        } catch {
            report.failures += 1
        }
        return report
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// Debian's `prometheus`, started by a test to scrape one target every second; stopped by PID.
final class PrometheusServer {
    static let binary: String? = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let promtool: String? = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    let process = Process()
    let port: Int
    let directory: String

    init(scraping target: String, path: String) async throws {
        guard let binary = Self.binary else { throw TestError("prometheus is not installed (apt-get install prometheus)") }
        port = try await freePort()
        directory = NSTemporaryDirectory() + "skiff-prometheus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        try """
            global: { scrape_interval: 1s, evaluation_interval: 1s }
            scrape_configs:
            - job_name: skiff
              metrics_path: \(path)
              static_configs: [{ targets: ["\(target)"] }]
            """.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// A PromQL instant query's first sample value, or nil when the result is empty.
    func query(_ promql: String) async throws -> Double? {
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
        let client = try await RawClient(port: port, group: MultiThreadedEventLoopGroup.singleton)
        try await client.send("GET /api/v1/query?query=\(encoded) HTTP/1.1\r\nhost: prometheus\r\nconnection: close\r\n\r\n")
        let response = try await client.readResponse(timeout: .seconds(5))
        await client.close()
        guard let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else {
            throw TestError("prometheus answered \(response.status): \(response.body)")
        }
        guard let value = result.first?["value"] as? [Any], let text = value.last as? String else { return nil }
        return Double(text)
    }

    /// Waits until `promql` returns a value `accept`s.
    func waitFor(_ promql: String, within seconds: Int = 20, _ accept: (Double) -> Bool) async throws -> Double {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var last: Double?
        while ContinuousClock.now < deadline {
            last = try? await query(promql)
            if let last, accept(last) { return last }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw TestError("\(promql) never matched (last: \(last.map { "\($0)" } ?? "none"))")
    }

    func stop() {
        let pid = process.processIdentifier
        if pid > 0, !stopped {
            stopped = true
            kill(pid, SIGKILL)
            var status: Int32 = 0
            for _ in 0..<500 where waitpid(pid, &status, WNOHANG) != pid { usleep(10_000) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private var stopped = false

    deinit { stop() }

    /// Runs `promtool check metrics` on `text`: its exit status and what it printed.
    static func checkMetrics(_ text: String) async throws -> (status: Int32, output: String) {
        guard let promtool else { throw TestError("promtool is not installed (apt-get install prometheus)") }
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: promtool)
        tool.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        tool.standardInput = input
        tool.standardOutput = output
        tool.standardError = output
        let exited = AsyncStream<Void>.makeStream()
        tool.terminationHandler = { _ in exited.continuation.finish() }
        try tool.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        for await _ in exited.stream {}
        return (tool.terminationStatus, String(decoding: printed, as: UTF8.self))
    }
}

import ArgumentParser
import NIOCore
import NIOPosix
import SkiffServer

/// `skiff upstream`: the built-in app on its own, for benchmarks and manual experiments.
struct UpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upstream",
        abstract: "Serve 'hello from NAME' over HTTP/1.1 or h2c (a fast upstream for benchmarks)."
    )

    @Option(help: "Name reported in the body and the x-upstream header.")
    var name: String = "app"

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port: Int = 8080

    @Option(help: "Event loops.")
    var threads: Int = 1

    @Option(name: .customLong("body-bytes"), help: "Answer with a body of this many bytes instead of the greeting.")
    var bodyBytes: Int?

    @Flag(help: "Speak HTTP/2 (prior-knowledge h2c) instead of HTTP/1.1.")
    var http2 = false

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let app = try await BuiltinUpstream.start(name: name, host: host, port: port, bodyBytes: bodyBytes, http2: http2, group: group)
        print("upstream \(name) listening on \(app.address)")
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}

import Logging
import NIOCore
import SkiffCore

/// How the server runs: the CLI fills this from Envoy-compatible flags.
public struct ServerOptions: Sendable {
    /// `--concurrency`: worker event loops (default: the number of cores).
    public var concurrency: Int
    /// `--drain-time-s`: how long in-flight requests get to finish on shutdown.
    public var drainTime: TimeAmount
    public var logger: Logger
    /// The command line, for `/server_info`.
    public var commandLine: [String]
    /// After startup, return startup-only pages to the kernel (`StartupMemoryTrim`). The CLI
    /// turns it on; in-process embedders (tests) usually leave it off.
    public var trimStartupMemory: Bool
    /// `--trace-keep-failed` / `--trace-keep-slower-than-ms`: Skiff's tail decision for spans.
    public var tailSampling = TailSampling()
    /// `--drain-strategy`: during a drain, keep accepting (gradual) or stop at once (immediate).
    public var drainStrategy: DrainStrategy = .gradual

    public init(
        concurrency: Int = System.coreCount, drainTime: TimeAmount = .seconds(600), logger: Logger = Logger(label: "skiff"),
        commandLine: [String] = [], trimStartupMemory: Bool = false
    ) {
        self.concurrency = max(1, concurrency)
        self.drainTime = drainTime
        self.logger = logger
        self.commandLine = commandLine
        self.trimStartupMemory = trimStartupMemory
    }
}

import ArgumentParser
import Foundation
import Logging
import NIOCore
import SkiffConfig
import SkiffCore
import SkiffServer

/// `skiff`: runs the proxy from an Envoy v3 bootstrap, accepting Envoy's common command-line flags
/// so tools that launch Envoy can launch Skiff unchanged.
@main
struct SkiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A sidecar data-plane proxy that speaks Envoy's configuration language.",
        version: BuildInfo.versionText,
        subcommands: [DemoCommand.self, UpstreamCommand.self]
    )

    @Option(name: [.customShort("c"), .customLong("config-path")], help: "Envoy v3 bootstrap file (YAML or JSON).")
    var configPath: String?

    @Option(name: .customLong("config-yaml"), help: "Bootstrap YAML, merged over --config-path as Envoy does.")
    var configYAML: String?

    @Option(help: "Worker event loops (default: number of cores).")
    var concurrency: Int?

    @Option(name: [.customShort("l"), .customLong("log-level")], help: "trace, debug, info, warning, error, critical, off.")
    var logLevel: String = "info"

    @Option(name: .customLong("service-node"), help: "Overrides node.id.")
    var serviceNode: String?

    @Option(name: .customLong("service-cluster"), help: "Overrides node.cluster.")
    var serviceCluster: String?

    @Option(name: .customLong("drain-time-s"), help: "Seconds in-flight requests get to finish on shutdown.")
    var drainTimeSeconds: Int = 600

    @Option(name: .customLong("drain-strategy"), help: "gradual (keep accepting while connections drain) or immediate (stop accepting at once).")
    var drainStrategy: String = "gradual"

    @Option(help: "serve or validate.")
    var mode: String = "serve"

    @Flag(name: .customLong("trace-keep-failed"), help: "Export the span of every failed request (5xx or reset), even when head sampling dropped it.")
    var traceKeepFailed = false

    @Option(name: .customLong("trace-keep-slower-than-ms"), help: "Export the span of every request at least this slow, even when head sampling dropped it.")
    var traceKeepSlowerThanMs: Int?

    // Envoy flags that do not apply to Skiff: accepted so launchers keep working.
    @Option(name: .customLong("base-id")) var baseID: String?
    @Flag(name: .customLong("disable-hot-restart")) var disableHotRestart = false
    @Flag(name: .customLong("use-dynamic-base-id")) var useDynamicBaseID = false
    @Option(name: .customLong("restart-epoch")) var restartEpoch: String?
    @Option(name: .customLong("parent-shutdown-time-s")) var parentShutdownTime: String?
    @Option(name: .customLong("log-format")) var logFormat: String?
    @Option(name: .customLong("log-path")) var logPath: String?
    @Option(name: .customLong("component-log-level")) var componentLogLevel: String?
    @Option(name: .customLong("local-address-ip-version")) var localAddressIPVersion: String?
    @Option(name: .customLong("file-flush-interval-msec")) var fileFlushInterval: String?
    @Flag(name: .customLong("allow-unknown-static-fields")) var allowUnknownStaticFields = false
    @Flag(name: .customLong("reject-unknown-dynamic-fields")) var rejectUnknownDynamicFields = false
    @Flag(name: .customLong("disable-extensions")) var disableExtensions = false

    func run() async throws {
        let logger = makeLogger(logLevel)
        noteIgnoredFlags(logger)
        guard mode == "serve" || mode == "validate" else {
            throw ValidationError("--mode must be serve or validate (got \(mode))")
        }
        guard let strategy = DrainStrategy(rawValue: drainStrategy) else {
            throw ValidationError("--drain-strategy must be gradual or immediate (got \(drainStrategy))")
        }
        let snapshot: BootstrapSnapshot
        do {
            snapshot = try loadSnapshot()
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("error initializing configuration '\(configPath ?? "--config-yaml")': \(error)\n".utf8))
            throw ExitCode(1)
        }
        if mode == "validate" {
            print("configuration '\(configPath ?? "--config-yaml")' OK")
            return
        }
        var options = ServerOptions(
            concurrency: concurrency ?? System.coreCount, drainTime: .seconds(Int64(drainTimeSeconds)),
            logger: logger, commandLine: CommandLine.arguments, trimStartupMemory: true
        )
        options.drainStrategy = strategy
        options.tailSampling = TailSampling(
            keepFailed: traceKeepFailed, keepSlowerThanNanos: traceKeepSlowerThanMs.map { UInt64(max($0, 0)) * 1_000_000 }
        )
        let server = try await SkiffServer.start(snapshot, options: options)
        if let admin = server.adminAddress {
            logger.info("admin address: \(admin)")
        }
        logger.info("skiff \(SkiffCore.version) (\(BuildInfo.flags)) serving with \(options.concurrency) workers")
        try await ServerService.runUntilSignalled(server, logger: logger)
    }

    func loadSnapshot() throws -> BootstrapSnapshot {
        var bootstrap = try BootstrapSource.decode(path: configPath, yaml: configYAML)
        if let serviceNode { bootstrap.node.id = serviceNode }
        if let serviceCluster { bootstrap.node.cluster = serviceCluster }
        return try BootstrapTranslator.translate(bootstrap)
    }

    func noteIgnoredFlags(_ logger: Logger) {
        var ignored: [String] = []
        if baseID != nil { ignored.append("--base-id") }
        if disableHotRestart { ignored.append("--disable-hot-restart") }
        if useDynamicBaseID { ignored.append("--use-dynamic-base-id") }
        if restartEpoch != nil { ignored.append("--restart-epoch") }
        if parentShutdownTime != nil { ignored.append("--parent-shutdown-time-s") }
        if logFormat != nil { ignored.append("--log-format") }
        if logPath != nil { ignored.append("--log-path") }
        if componentLogLevel != nil { ignored.append("--component-log-level") }
        if localAddressIPVersion != nil { ignored.append("--local-address-ip-version") }
        if fileFlushInterval != nil { ignored.append("--file-flush-interval-msec") }
        if allowUnknownStaticFields { ignored.append("--allow-unknown-static-fields") }
        if rejectUnknownDynamicFields { ignored.append("--reject-unknown-dynamic-fields") }
        if disableExtensions { ignored.append("--disable-extensions") }
        if !ignored.isEmpty {
            logger.notice("accepted for Envoy compatibility, no effect in Skiff: \(ignored.joined(separator: " "))")
        }
    }
}

func makeLogger(_ level: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = logLevel(level)
        return handler
    }
    var logger = Logger(label: "skiff")
    logger.logLevel = logLevel(level)
    return logger
}

func logLevel(_ name: String) -> Logger.Level {
    switch name.lowercased() {
    case "trace": return .trace
    case "debug": return .debug
    case "warning", "warn": return .warning
    case "error": return .error
    case "critical", "off": return .critical
    default: return .info
    }
}

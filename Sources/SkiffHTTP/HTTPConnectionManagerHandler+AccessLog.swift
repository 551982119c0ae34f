import SkiffCore
import SkiffTelemetry

/// `access_log`: a line per finished request, appended to the worker's batch for each
/// destination whose filter admits it (the batch reaches the file off the event loop).
extension HTTPConnectionManagerHandler {
    /// A record is kept for access logs and for trace spans (which take their tags from it).
    var logsRequests: Bool { !config.accessLogs.isEmpty || config.tracing != nil || config.istioStats != nil }

    func logFinished(_ stream: RouterStream, flag: ResponseFlag? = nil) {
        guard logsRequests, let record = stream.finishLog(flag: flag) else { return }
        if !config.accessLogs.isEmpty { worker.writeAccessLogs(config.accessLogs, record) }
        if stream.span != nil { stream.finishTrace(record) }
        if let reporter = config.istioStats { stream.recordIstio(reporter, record) }
    }
}

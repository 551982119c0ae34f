import SkiffCore
import SkiffTelemetry

/// `access_log`: a line per finished request, appended to the worker's batch for each
/// destination whose filter admits it (the batch reaches the file off the event loop).
extension HTTPConnectionManagerHandler {
    var logsRequests: Bool { !config.accessLogs.isEmpty }

    func logFinished(_ stream: RouterStream, flag: ResponseFlag? = nil) {
        guard logsRequests, let record = stream.finishLog(flag: flag) else { return }
        worker.writeAccessLogs(config.accessLogs, record)
    }
}

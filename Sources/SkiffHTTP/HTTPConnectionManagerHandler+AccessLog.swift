import SkiffCore
import SkiffTelemetry

/// `access_log`: a line per finished request, appended to the worker's batch for each
/// destination whose filter admits it (the batch reaches the file off the event loop).
extension HTTPConnectionManagerHandler {
    /// Every request keeps a record for access logs and Istio's metrics; with tracing alone, only
    /// the requests whose span may be exported do (`RouterStream.spanNeedsRecord`).
    var logsRequests: Bool { !config.accessLogs.isEmpty || config.istioStats != nil }

    func logFinished(_ stream: RouterStream, flag: ResponseFlag? = nil) {
        guard let record = stream.finishLog(flag: flag) else {
            stream.span = nil  // Not sampled, no tail decision: nothing to export.
            return
        }
        if !config.accessLogs.isEmpty { worker.writeAccessLogs(config.accessLogs, record) }
        if stream.span != nil { stream.finishTrace(record) }
        if let reporter = config.istioStats { stream.recordIstio(reporter, record) }
    }
}

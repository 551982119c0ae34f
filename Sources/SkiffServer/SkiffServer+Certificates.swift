import SkiffAdmin
import SkiffCore
import SkiffTelemetry
import SkiffTLS

/// Certificates in use: Envoy's `/certs`, the expiry gauges, and the warning before expiry.
extension SkiffServer {
    public func certificatesJSON() async -> String {
        let now = Int(wallClockSeconds())
        let contexts = tls.certificates()
        func render(_ report: CertificateReport, indent: String) -> String {
            let sans = report.subjectAltNames.map { "\(indent)  {\n\(indent)   \"\($0.kind)\": \"\(jsonEscape($0.value))\"\n\(indent)  }" }
            return """
                \(indent){
                \(indent) "path": "\(jsonEscape(report.source))",
                \(indent) "serial_number": "\(report.serial)",
                \(indent) "subject_alt_names": [\(sans.isEmpty ? "]" : "\n" + sans.joined(separator: ",\n") + "\n\(indent) ]"),
                \(indent) "days_until_expiration": "\(max(0, (report.notAfter - now) / 86_400))",
                \(indent) "valid_from": "\(HTTPDateCache.iso8601(epochSeconds: report.notBefore))",
                \(indent) "expiration_time": "\(HTTPDateCache.iso8601(epochSeconds: report.notAfter))"
                \(indent)}
                """
        }
        let entries = contexts.map { context in
            let ca = context.trusted.map { render($0, indent: "    ") }.joined(separator: ",\n")
            let chain = context.chain.map { render($0, indent: "    ") }.joined(separator: ",\n")
            return """
                  {
                   "ca_cert": [\(ca.isEmpty ? "]" : "\n" + ca + "\n   ]"),
                   "cert_chain": [\(chain.isEmpty ? "]" : "\n" + chain + "\n   ]")
                  }
                """
        }
        return "{\n \"certificates\": [\(entries.isEmpty ? "]" : "\n" + entries.joined(separator: ",\n") + "\n ]")\n}\n"
    }

    /// `server.days_until_first_cert_expiring` (Envoy's: whole days, 4294967295 with no
    /// certificate) and Skiff's `server.seconds_until_first_cert_expiring`.
    func certificateExpirySamples() -> [StatSample] {
        let now = Int(wallClockSeconds())
        let expiries = tls.certificates().flatMap { $0.chain + $0.trusted }.map(\.notAfter)
        let seconds = expiries.min().map { max(0, $0 - now) }
        let days = seconds.map { Int64($0 / 86_400) } ?? 4_294_967_295
        var out = [StatSample(family: .server, scope: "", suffix: "days_until_first_cert_expiring", kind: .gauge, value: days)]
        if let seconds {
            out.append(StatSample(family: .server, scope: "", suffix: "seconds_until_first_cert_expiring", kind: .gauge, value: Int64(seconds)))
        }
        return out
    }

    /// Certificates within 7 days of expiry (or past it): one warning per certificate, so an
    /// operator sees it in the log before handshakes start failing.
    func warnAboutExpiringCertificates(alreadyWarned: inout Set<String>) {
        let now = Int(wallClockSeconds())
        for report in tls.certificates().flatMap({ $0.chain + $0.trusted }) where report.notAfter - now < 7 * 86_400 {
            guard alreadyWarned.insert(report.serial).inserted else { continue }
            let left = report.notAfter - now
            options.logger.warning(
                "certificate \(report.serial) from \(report.source) \(left > 0 ? "expires in \(left / 3600) h" : "has expired") (\(HTTPDateCache.iso8601(epochSeconds: report.notAfter)))"
            )
        }
    }
}

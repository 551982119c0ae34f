import NIOCore
import NIOHTTP1
import SkiffCore
@testable import SkiffTelemetry
import Testing

struct AccessLogFormatterTests {
    func record() -> AccessLogRecord {
        let r = AccessLogRecord()
        r.startTimeNanos = 1_700_000_000_123_456_789  // 2023-11-14T22:13:20.123456789Z
        r.method = "GET"
        r.path = "/api/users?id=7"
        r.authority = "example.com"
        r.requestHeaders = HTTPHeaders([("user-agent", "curl/8.0"), ("x-request-id", "abc")])
        r.responseCode = 200
        r.responseHeaders = HTTPHeaders([("x-envoy-upstream-service-time", "3")])
        r.bytesReceived = 10
        r.bytesSent = 15
        r.durationNanos = 4_900_000
        r.upstreamHost = "127.0.0.1:8080"
        r.upstreamCluster = "app"
        return r
    }

    /// The line, checked to be what the workers write straight into their batches too.
    func render(_ format: String, _ r: AccessLogRecord) throws -> String {
        let parsed = AccessLogFormat.text(try AccessLogFormatParser.parse(format))
        let line = AccessLogFormatter.line(parsed, r)
        var buffer = ByteBuffer()
        AccessLogFormatter.write(parsed, r, into: &buffer)
        #expect(buffer.readString(length: buffer.readableBytes) == line, "write(into:) and line agree")
        return line
    }

    @Test func numbersAndMissingValuesWrittenDirectly() throws {
        let r = record()
        r.responseCode = 0
        r.durationNanos = nil
        r.bytesSent = 1_234_567_890
        r.startTimeNanos = 1_700_000_000_005_000_000
        #expect(try render("%START_TIME% %RESPONSE_CODE% %DURATION% %BYTES_SENT% %BYTES_RECEIVED%", r) == "2023-11-14T22:13:20.005Z 0 - 1234567890 10")
    }

    @Test func envoysDefaultFormat() throws {
        let line = try render(AccessLogFormat.envoyDefaultText, record())
        #expect(line == "[2023-11-14T22:13:20.123Z] \"GET /api/users?id=7 HTTP/1.1\" 200 - 10 15 4 3 \"-\" \"curl/8.0\" \"abc\" \"example.com\" \"127.0.0.1:8080\"\n")
    }

    /// A line longer than the window a line is formatted in, in place, is still written whole
    /// (the slow way), and the lines around it are unaffected.
    @Test func aLineLongerThanTheFormattingWindowIsWrittenWhole() throws {
        let r = record()
        let long = String(repeating: "a", count: AccessLogFormatter.lineWindow + 100)
        r.requestHeaders.add(name: "x-long", value: long)
        let parsed = AccessLogFormat.text(try AccessLogFormatParser.parse("%REQ(:METHOD)% %REQ(X-LONG)% %RESPONSE_CODE%\n"))
        var buffer = ByteBuffer()
        AccessLogFormatter.write(parsed, record(), into: &buffer)
        AccessLogFormatter.write(parsed, r, into: &buffer)
        AccessLogFormatter.write(parsed, record(), into: &buffer)
        let text = buffer.readString(length: buffer.readableBytes) ?? ""
        #expect(text == "GET - 200\nGET \(long) 200\nGET - 200\n")
    }

    @Test func specialRequestHeaderNamesAndOrdinaryOnes() throws {
        let r = record()
        r.requestHeaders.add(name: "Host", value: "from-header")
        r.requestHeaders.add(name: ":odd", value: "pseudo-like")
        #expect(try render("%REQ(HOST)% %REQ(:AUTHORITY)% %REQ(:SCHEME)% %REQ(:ODD)% %REQ(X-REQUEST-ID)%", r)
            == "example.com example.com http pseudo-like abc")
        r.authority = ""
        #expect(try render("%REQ(HOST)% %REQ(:AUTHORITY)%", r) == "from-header -")
        r.requestHeaders.add(name: "x-envoy-original-path", value: "/sent")
        #expect(try render("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", r) == "/sent")
    }

    @Test func headersWithAlternativesAndTruncation() throws {
        let r = record()
        r.originalPath = "/before/rewrite"
        #expect(try render("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ(USER-AGENT):4% %REQ(X-MISSING)% %RESP(:STATUS)%", r)
            == "/before/rewrite curl - 200")
        #expect(try render("100%% %PROTOCOL%", r) == "100% HTTP/1.1")
    }

    @Test func startTimeFormats() throws {
        let r = record()
        #expect(try render("%START_TIME(%s)%", r) == "1700000000")
        #expect(try render("%START_TIME(%Y/%m/%d %H:%M:%S.%6f)%", r) == "2023/11/14 22:13:20.123456")
        #expect(try render("%START_TIME(%E3S)%", r) == "20.123")
    }

    @Test func responseFlagsJoinWithCommasAndDashWhenNone() throws {
        let r = record()
        #expect(try render("%RESPONSE_FLAGS%", r) == "-")
        r.responseFlags = [.upstreamConnectionFailure, .upstreamOverflow]
        #expect(try render("%RESPONSE_FLAGS%", r) == "UF,UO")
        r.responseFlags = [.upstreamRetryLimitExceeded, .upstreamRequestTimeout, .upstreamRetryLimitExceeded]
        #expect(try render("%RESPONSE_FLAGS%", r) == "URX,UT", "in the order set, once each")
        r.upstreamTransportFailureReason = "delayed connect error: Connection refused"
        #expect(try render("%UPSTREAM_TRANSPORT_FAILURE_REASON%", r) == "delayed_connect_error:_Connection_refused")
    }

    @Test func jsonKeepsNumbersAndWritesNullForMissing() throws {
        let format = AccessLogFormat.json([
            ("code", try AccessLogFormatParser.parse("%RESPONSE_CODE%")),
            ("host", try AccessLogFormatParser.parse("%UPSTREAM_HOST%")),
            ("route", try AccessLogFormatParser.parse("%ROUTE_NAME%")),
            ("flags", try AccessLogFormatParser.parse("%RESPONSE_FLAGS%")),
            ("mixed", try AccessLogFormatParser.parse("a \"%REQ(X-MISSING)%\"")),
        ])
        #expect(AccessLogFormatter.line(format, record())
            == "{\"code\":200,\"host\":\"127.0.0.1:8080\",\"route\":null,\"flags\":\"-\",\"mixed\":\"a \\\"-\\\"\"}\n")
    }

    @Test func unknownOperatorsAreErrorsNamingThem() {
        #expect(throws: AccessLogFormatParser.ParseError(message: "unsupported command operator %NOPE%")) {
            try AccessLogFormatParser.parse("x %NOPE% y")
        }
        #expect(throws: AccessLogFormatParser.ParseError.self) { try AccessLogFormatParser.parse("%REQ(A?B?C)%") }
        #expect(throws: AccessLogFormatParser.ParseError.self) { try AccessLogFormatParser.parse("unterminated %DURATION") }
    }

    @Test func filters() {
        let r = record()
        #expect(AccessLogFilter.statusCode(.greaterOrEqual, 500).admits(r) == false)
        r.responseCode = 503
        #expect(AccessLogFilter.statusCode(.greaterOrEqual, 500).admits(r))
        #expect(AccessLogFilter.duration(.greaterOrEqual, 5).admits(r) == false, "4.9 ms is 4 ms")
        #expect(AccessLogFilter.responseFlags([]).admits(r) == false, "no flag set")
        r.responseFlags = [.noHealthyUpstream]
        #expect(AccessLogFilter.responseFlags(["UH"]).admits(r))
        #expect(AccessLogFilter.responseFlags(["UF"]).admits(r) == false)
        #expect(AccessLogFilter.and([.statusCode(.equal, 503), .responseFlags(["UH"])]).admits(r))
        #expect(AccessLogFilter.or([.statusCode(.equal, 200), .responseFlags(["UF"])]).admits(r) == false)
    }
}

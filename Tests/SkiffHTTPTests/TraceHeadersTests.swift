import NIOHTTP1
@testable import SkiffHTTP
import Testing

struct TraceHeadersTests {
    /// One pass finds what four lookups used to: names in any case, the first value of each.
    @Test func findsTheTracersHeadersInOnePass() {
        let found = TraceHeaders(HTTPHeaders([
            ("Host", "svc"), ("TraceParent", "00-aa-bb-01"), ("X-Request-ID", "first"), ("x-request-id", "second"),
            ("tracestate", "k=v"), ("X-Client-Trace-Id", "1"), ("x-request-idx", "not-it"),
        ]))
        #expect(found.traceparent == "00-aa-bb-01")
        #expect(found.tracestate == "k=v")
        #expect(found.requestID == "first")
        #expect(found.clientTraceID)
    }

    @Test func absentHeadersAndLookalikes() {
        let found = TraceHeaders(HTTPHeaders([("traceparenx", "1"), ("x-request-ix", "2"), ("tracestatee", "3")]))
        #expect(found.traceparent == nil)
        #expect(found.tracestate == nil)
        #expect(found.requestID == nil)
        #expect(!found.clientTraceID)
    }
}

import SkiffCore
@testable import SkiffTelemetry
import Testing

struct TraceContextTests {
    @Test func w3cTraceparentRoundTrips() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let context = try #require(TraceContext.parseTraceparent(header, traceState: "congo=t61rcWkgMzE"))
        #expect(context.traceIDHex == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.spanID == 0x00f0_67aa_0ba9_02b7)
        #expect(context.sampled == true)
        #expect(context.traceState == "congo=t61rcWkgMzE")
        #expect(context.traceparent(spanID: 0x00f0_67aa_0ba9_02b7, sampled: true) == header)
        #expect(TraceContext.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled == false)
    }

    @Test(arguments: [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // v00 has no extra fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short
        "garbage",
    ])
    func malformedTraceparentsStartANewTrace(_ header: String) {
        #expect(TraceContext.parseTraceparent(header) == nil)
    }

    @Test func b3MultiAndSingleHeaders() throws {
        let multi = try #require(TraceContext.parseB3(traceID: "463ac35c9f6413ad", spanID: "a2fb4a1d1a96d312", sampled: "1", flags: nil))
        #expect(multi.traceIDHigh == 0 && multi.traceIDLow == 0x463a_c35c_9f64_13ad)
        #expect(multi.sampled == true)
        let wide = try #require(TraceContext.parseB3(
            traceID: "463ac35c9f6413ad48485a3953bb6124", spanID: "a2fb4a1d1a96d312", sampled: "0", flags: nil))
        #expect(wide.traceIDHex == "463ac35c9f6413ad48485a3953bb6124")
        #expect(wide.sampled == false)
        #expect(TraceContext.parseB3(traceID: "463ac35c9f6413ad", spanID: "a2fb4a1d1a96d312", sampled: nil, flags: "1")?.sampled == true)
        let single = TraceContext.parseB3Single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")
        #expect(single.context?.traceIDHex == "80f198ee56343ba864fe8b2a57d3eff7")
        #expect(single.context?.spanID == 0xe457_b5a2_e4d8_6bd1)
        #expect(single.sampled == true)
        #expect(TraceContext.parseB3Single("0").sampled == false)
        #expect(TraceContext.parseB3Single("0").context == nil)
    }

    /// The decision follows the request id, so every proxy on a path decides alike, and is
    /// recorded in the id's version nibble.
    @Test func samplingFollowsTheRequestID() {
        var config = TracingConfig(provider: .openTelemetry(cluster: "c", authority: nil, serviceName: "s"))
        config.randomSampling = 50
        // 0x00001388 = 5000 → 5000 % 10000 = 5000: not below 50 % × 100 = 5000.
        let out = TraceSampling.decide(requestID: "00001388-0000-4000-8000-000000000000", config: config, clientTraceID: false)
        #expect(out.reason == .noTrace)
        #expect(out.requestID == "00001388-0000-4000-8000-000000000000")
        // 4999 is below: sampled, nibble 9.
        let sampled = TraceSampling.decide(requestID: "00001387-0000-4000-8000-000000000000", config: config, clientTraceID: false)
        #expect(sampled.reason == .sampling)
        #expect(sampled.requestID == "00001387-0000-9000-8000-000000000000")
        // A decision already in the id is kept.
        config.randomSampling = 0
        #expect(TraceSampling.decide(requestID: sampled.requestID, config: config, clientTraceID: false).reason == .sampling)
        #expect(TraceSampling.decide(requestID: "00001387-0000-4000-8000-000000000000", config: config, clientTraceID: true).reason == .clientForced)
        #expect(TraceSampling.decide(requestID: "my-custom-id", config: config, clientTraceID: true).reason == .noTrace,
                "Envoy never traces a request whose id is not a UUID")
        config.overallSampling = 0
        #expect(TraceSampling.decide(requestID: sampled.requestID, config: config, clientTraceID: false).reason == .notTraceable)
    }

    /// The id is read in place: uppercase hex counts (ids are not W3C-strict), anything else in
    /// the first eight characters makes it an id without a decision.
    @Test func requestIDsInEitherCaseAndMalformedOnes() {
        var config = TracingConfig(provider: .openTelemetry(cluster: "c", authority: nil, serviceName: "s"))
        config.randomSampling = 50
        // 0x0000138A = 5002: not sampled at 50 %; 0x00000FFF = 4095: sampled.
        #expect(TraceSampling.decide(requestID: "0000138A-0000-4000-8000-000000000000", config: config, clientTraceID: false).reason == .noTrace)
        let upper = TraceSampling.decide(requestID: "00000FFF-0000-4000-8000-00000000ABCD", config: config, clientTraceID: false)
        #expect(upper.reason == .sampling)
        #expect(upper.requestID == "00000FFF-0000-9000-8000-00000000ABCD", "only the version nibble changes")
        #expect(TraceSampling.decide(requestID: "0000 FFF-0000-4000-8000-000000000000", config: config, clientTraceID: false).reason == .noTrace)
        #expect(TraceSampling.decide(requestID: "00000FFF+0000-4000-8000-000000000000", config: config, clientTraceID: false).reason == .noTrace)
    }

    @Test func hexDigitsRoundTrip() {
        for value: UInt64 in [0, 1, 0xabcdef, 0x0123456789abcdef, .max] {
            let text = Hex.string(value)
            #expect(text.count == 16)
            #expect(Hex.parseWhole(text) == value)
        }
        #expect(Hex.string(0x00f067aa0ba902b7) == "00f067aa0ba902b7")
    }
}

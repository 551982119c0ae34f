import NIOCore
import NIOHTTP1
import SkiffCore
import Testing
@testable import SkiffHTTP

struct FaultInjectorTests {
    @Test func percentagesUseTheirDenominator() {
        let half = FractionalPercent(numerator: 5_000, denominator: 10_000)
        var random = FastRandom(seed: 42)
        let hits = (0..<10_000).filter { _ in half.hit(random.next()) }.count
        #expect((4_700...5_300).contains(hits))
        #expect(!FractionalPercent.zero.hit(0))
        #expect(FractionalPercent(numerator: 100, denominator: 100).hit(99))
    }

    @Test func headerControlledFaultsNeedTheirHeaderAndAreCappedByTheConfig() {
        var fault = FaultConfig(delay: FaultConfig.Delay(fixed: nil, percentage: .init(numerator: 100, denominator: 100)),
                                abort: FaultConfig.Abort(httpStatus: nil, percentage: .init(numerator: 100, denominator: 100)))
        var random = FastRandom(seed: 1)
        #expect(FaultInjector.decide(fault, headers: [:], cluster: "c", random: &random) == nil)
        let both: HTTPHeaders = ["x-envoy-fault-delay-request": "250", "x-envoy-fault-abort-request": "503"]
        #expect(FaultInjector.decide(fault, headers: both, cluster: "c", random: &random)
            == .init(delay: .milliseconds(250), abort: .init(httpStatus: 503)))
        // A header percentage of 0 turns the abort off; an invalid status is ignored.
        #expect(FaultInjector.decide(fault, headers: ["x-envoy-fault-abort-request": "503", "x-envoy-fault-abort-request-percentage": "0"],
                                     cluster: "c", random: &random) == nil)
        #expect(FaultInjector.decide(fault, headers: ["x-envoy-fault-abort-request": "700"], cluster: "c", random: &random) == nil)
        fault.upstreamCluster = "other"
        #expect(FaultInjector.decide(fault, headers: both, cluster: "c", random: &random) == nil)
    }

    @Test func grpcAbortsAnswerHTTP200WithTheGRPCStatus() {
        let always = FractionalPercent(numerator: 100, denominator: 100)
        var random = FastRandom(seed: 3)
        let configured = FaultConfig(delay: nil, abort: FaultConfig.Abort(httpStatus: nil, grpcStatus: 14, percentage: always))
        #expect(FaultInjector.decide(configured, headers: [:], cluster: "c", random: &random)
            == .init(delay: nil, abort: .init(httpStatus: 200, grpcStatus: 14)))
        let fromHeader = FaultConfig(delay: nil, abort: FaultConfig.Abort(httpStatus: nil, percentage: always))
        #expect(FaultInjector.decide(fromHeader, headers: ["x-envoy-fault-abort-grpc-request": "8"], cluster: "c", random: &random)
            == .init(delay: nil, abort: .init(httpStatus: 200, grpcStatus: 8)))
    }

    @Test func grpcTimeoutHeaderParsesEveryUnitAndRejectsJunk() {
        #expect(GRPCMessage.timeout(["grpc-timeout": "300m"]) == .milliseconds(300))
        #expect(GRPCMessage.timeout(["grpc-timeout": "2S"]) == .seconds(2))
        #expect(GRPCMessage.timeout(["grpc-timeout": "1H"]) == .hours(1))
        #expect(GRPCMessage.timeout(["grpc-timeout": "5u"]) == .microseconds(5))
        #expect(GRPCMessage.timeout(["grpc-timeout": "123456789S"]) == nil)
        #expect(GRPCMessage.timeout(["grpc-timeout": "10x"]) == nil)
        #expect(GRPCMessage.timeout(["grpc-timeout": "S"]) == nil)
        #expect(GRPCMessage.percentEncoded("50% done\n") == "50%25 done%0A")
    }
}

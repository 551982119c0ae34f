@testable import SkiffHTTP
import Testing

struct HTTP1ConnectionStateMachineTests {
    @Test func keepAliveExchangeReturnsToIdle() {
        var machine = HTTP1ConnectionStateMachine(maxRequestsPerConnection: nil)
        #expect(machine.requestHead(requestKeepAlive: true) == .startStream)
        #expect(machine.requestEnd() == .none)
        #expect(machine.responseStarting())
        #expect(machine.responseEnd() == .becomeIdle)
        #expect(machine.state == .idle)
    }

    @Test func responseBeforeRequestEndWaitsForTheRequest() {
        var machine = HTTP1ConnectionStateMachine(maxRequestsPerConnection: nil)
        _ = machine.requestHead(requestKeepAlive: true)
        #expect(machine.responseStarting())
        #expect(machine.responseEnd() == .none)
        #expect(machine.requestEnd() == .becomeIdle)
    }

    @Test func connectionCloseRequestCloses() {
        var machine = HTTP1ConnectionStateMachine(maxRequestsPerConnection: nil)
        _ = machine.requestHead(requestKeepAlive: false)
        _ = machine.requestEnd()
        #expect(!machine.responseStarting())
        #expect(machine.responseEnd() == .closeAfterFlush)
    }

    @Test func maxRequestsPerConnectionClosesOnTheLastOne() {
        var machine = HTTP1ConnectionStateMachine(maxRequestsPerConnection: 2)
        _ = machine.requestHead(requestKeepAlive: true)
        _ = machine.requestEnd()
        #expect(machine.responseEnd() == .becomeIdle)
        _ = machine.requestHead(requestKeepAlive: true)
        _ = machine.requestEnd()
        #expect(!machine.responseStarting())
        #expect(machine.responseEnd() == .closeAfterFlush)
    }

    @Test func secondHeadWhileActiveIsIgnored() {
        var machine = HTTP1ConnectionStateMachine(maxRequestsPerConnection: nil)
        _ = machine.requestHead(requestKeepAlive: true)
        #expect(machine.requestHead(requestKeepAlive: true) == .none)
    }
}

import Testing
@testable import SkiffServer

/// The background loops sleep on a doorbell: it must wake them at once when rung (a cluster was
/// added) and otherwise only when their next check is due.
struct DoorbellTests {
    @Test func aRingWakesTheWaiterBeforeItsTimeout() async throws {
        let bell = Doorbell()
        let clock = ContinuousClock()
        let started = clock.now
        async let waited: Void = bell.wait(for: .seconds(10))
        try await Task.sleep(for: .milliseconds(50))
        bell.ring()
        await waited
        #expect(clock.now - started < .seconds(2))
    }

    @Test func aRingWithNobodyWaitingIsKeptForTheNextWait() async {
        let bell = Doorbell()
        bell.ring()
        let clock = ContinuousClock()
        let started = clock.now
        await bell.wait(for: .seconds(10))
        #expect(clock.now - started < .seconds(2))
    }

    @Test func withoutARingTheWaitLastsItsDuration() async {
        let bell = Doorbell()
        let clock = ContinuousClock()
        let started = clock.now
        await bell.wait(for: .milliseconds(200))
        #expect(clock.now - started >= .milliseconds(200))
        // The ring consumed by nobody does not leak into later waits either.
        let again = clock.now
        await bell.wait(for: .milliseconds(100))
        #expect(clock.now - again >= .milliseconds(100))
    }
}

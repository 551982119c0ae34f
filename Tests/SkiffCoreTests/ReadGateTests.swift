import SkiffCore
import Testing

struct ReadGateTests {
    @Test func aHeldReadIsSentOnceOnRelease() {
        var gate = ReadGate()
        let open = gate.admit()
        #expect(open, "open: reads pass")
        gate.set(held: true)
        let first = gate.admit(), second = gate.admit()
        #expect(!first && !second, "held: remembered, not sent")
        let released = gate.set(held: false)
        #expect(released, "released: the remembered read goes out, once")
        let again = gate.set(held: false)
        #expect(!again, "nothing is pending any more")
    }

    @Test func releasingWithNothingPendingSendsNothing() {
        var gate = ReadGate(held: true)
        #expect(gate.isHeld)
        let released = gate.set(held: false)
        #expect(!released)
        let open = gate.admit()
        #expect(open)
    }
}

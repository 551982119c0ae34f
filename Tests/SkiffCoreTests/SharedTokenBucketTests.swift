import NIOCore
import SkiffCore
import Testing

/// The lock-free token bucket on an injected clock.
struct SharedTokenBucketTests {
    @Test func takesUntilEmptyAndRefillsPerInterval() {
        let second: UInt64 = 1_000_000_000
        let bucket = SharedTokenBucket(maxTokens: 3, tokensPerFill: 2, fillInterval: .seconds(1), now: 0)
        #expect([bucket.take(now: 0), bucket.take(now: 0), bucket.take(now: 0), bucket.take(now: 0)] == [true, true, true, false])
        #expect(bucket.secondsToReset(now: second / 2) == 1)
        #expect(bucket.remaining(now: second) == 2, "one fill of 2")
        #expect(bucket.remaining(now: 5 * second) == 3, "fills never exceed max_tokens")
        #expect(bucket.take(now: 5 * second))
    }
}

import Domain
import Ingest
import Testing
@testable import Operators

/// `HeldEvents` against a reference: whatever the arrival order and the watermarks, each
/// `takeDue` hands back exactly the held events at or before the watermark, in (time, event_id)
/// order, and keeps the rest. Seeded; the seed is in every failure's message.
@Suite struct HeldEventsTests {
    @Test func takeDueMatchesAReferenceWhateverTheArrivalOrder() {
        for seed: UInt64 in 1...40 {
            var rng = SplitMix64(seed: seed)
            var held = HeldEvents()
            var reference: [Timestamped<Event>] = []
            var watermark: EpochMillis = 0
            var clock: EpochMillis = 1_000
            for step in 0..<300 {
                // Mostly in order, some late by up to 20 s, some ties on the same millisecond.
                for _ in 0..<Int.random(in: 0...12, using: &rng) {
                    clock += Int64.random(in: 0...400, using: &rng)
                    let t = Int.random(in: 0..<5, using: &rng) == 0 ? clock - Int64.random(in: 0...20_000, using: &rng) : clock
                    let e = Timestamped(time: t, value: Event(eventID: "e-\(Int.random(in: 0..<1_000_000, using: &rng))", type: .usageRecorded, time: t,
                                                              tenantID: "t", payload: .usageRecorded(UsageRecorded(resource: .apiCalls, amount: 1))))
                    held.append(e)
                    reference.append(e)
                }
                // The watermark moves forward by a varying amount: sometimes nothing is due,
                // sometimes a few, sometimes everything.
                watermark = max(watermark, clock - Int64.random(in: 0...30_000, using: &rng))
                let before = { (a: Timestamped<Event>, b: Timestamped<Event>) in a.time != b.time ? a.time < b.time : a.value.eventID < b.value.eventID }
                let want = reference.filter { $0.time <= watermark }.sorted(by: before).map(\.value.eventID)
                reference.removeAll { $0.time <= watermark }
                var got: [String] = []
                held.takeDue(watermark).drainPrefetching { got.append($0.value.eventID) }
                #expect(got == want, "seed \(seed), step \(step)")
                #expect(held.count == reference.count, "seed \(seed), step \(step)")
                if got != want { return }
            }
        }
    }
}

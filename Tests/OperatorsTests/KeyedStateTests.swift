import Domain
import Testing
@testable import Operators

@Suite struct KeyedStateTests {
    @Test func evictsWhenTheWatermarkPassesTheExpiry() {
        var s = KeyedState<String, Int64>(name: "dedupe")
        s.set("e1", 1, expiresAt: 100)
        s.set("e2", 2, expiresAt: 50)
        s.set("e3", 3, expiresAt: 100)
        var evicted: [String] = []
        s.advance(to: 49) { k, _ in evicted.append(k) }
        #expect(evicted.isEmpty)
        #expect(s.count == 3)
        s.advance(to: 50) { k, _ in evicted.append(k) }
        #expect(evicted == ["e2"])
        #expect(s["e2"] == nil)
        s.advance(to: 1000) { k, _ in evicted.append(k) }
        #expect(evicted == ["e2", "e1", "e3"]) // by expiry, then key
        #expect(s.count == 0)
    }

    @Test func rearmingReplacesTheTimer() {
        var s = KeyedState<String, Int64>(name: "ttl")
        s.set("k", 1, expiresAt: 100)
        s.set("k", 2, expiresAt: 300) // touched again: lives longer
        s.advance(to: 200)
        #expect(s["k"] == 2)
        s.advance(to: 300)
        #expect(s["k"] == nil)
        s.set("gone", 1, expiresAt: 10)
        s.remove("gone")
        var evicted = 0
        s.advance(to: 10) { _, _ in evicted += 1 }
        #expect(evicted == 0)
    }

    @Test func snapshotRestoreKeepsValuesAndTimers() throws {
        var s = KeyedState<String, Int64>(name: "dedupe")
        for i in 0..<1000 { s.set("e\(i)", Int64(i), expiresAt: Int64(i * 10)) }
        s.advance(to: 4_995)
        let bytes = try s.snapshot()
        var t = KeyedState<String, Int64>(name: "dedupe")
        try t.restore(bytes)
        #expect(t.count == 500)
        #expect(t["e500"] == 500)
        #expect(try t.snapshot() == bytes)
        var a: [String] = [], b: [String] = []
        s.advance(to: 7_000) { k, _ in a.append(k) }
        t.advance(to: 7_000) { k, _ in b.append(k) }
        #expect(a == b)
        #expect(a.count == 201)
    }
}

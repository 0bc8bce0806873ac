import Domain
import Testing
import Ingest
@testable import Operators

@Suite struct SeenKeysTests {
    @Test func evictsWhenTheWatermarkPassesTheExpiry() {
        var s = SeenKeys(name: "dedupe")
        #expect(s.insertIfAbsent("e1", 1, expiresAt: 50) == nil)
        #expect(s.insertIfAbsent("e2", 2, expiresAt: 60) == nil)
        #expect(s.insertIfAbsent("e1", 9, expiresAt: 99) == 1) // present: kept, value returned
        s.advance(to: 49)
        #expect(s.count == 2)
        s.advance(to: 50)
        #expect(s["e1"] == nil)
        #expect(s["e2"] == 2)
        s.advance(to: 1000)
        #expect(s.count == 0)
    }

    @Test func rearmingReplacesTheTimer() {
        var s = SeenKeys(name: "ttl")
        s.set("k", 1, expiresAt: 100)
        s.set("k", 2, expiresAt: 300) // touched again: lives longer
        s.advance(to: 200)
        #expect(s["k"] == 2)
        s.advance(to: 300)
        #expect(s["k"] == nil)
    }

    @Test func timersInArrivalOrderEvictLateButNeverWrongly() {
        var s = SeenKeys(name: "dedupe")
        s.set("late", 1, expiresAt: 200)
        s.set("early", 2, expiresAt: 100) // arrived after a later expiry
        s.advance(to: 150)
        #expect(s["early"] == 2) // waits behind "late": memory only, dedupe checks the TTL itself
        s.advance(to: 200)
        #expect(s.count == 0)
    }

    /// Against a Dictionary model under heavy churn in a small table: inserts, re-arms and
    /// evictions move entries along probe chains (backward-shift deletion, growth).
    @Test func matchesADictionaryModelUnderChurn() {
        var s = SeenKeys(name: "model", capacity: 4)
        var model: [String: (value: Int64, expiresAt: Int64)] = [:]
        var rng = SystemRandomNumberGenerator()
        var wm: Int64 = 0, t: Int64 = 0
        for step in 0..<20_000 {
            t += Int64.random(in: 0...2, using: &rng) // expiries in arrival order: eviction is exact
            let key = "k\(Int.random(in: 0..<600, using: &rng))"
            if Bool.random(using: &rng) {
                let got = s.insertIfAbsent(key, t, expiresAt: t + 100)
                #expect(got == model[key]?.value)
                if model[key] == nil { model[key] = (t, t + 100) }
            } else {
                s.set(key, t, expiresAt: t + 100)
                model[key] = (t, t + 100)
            }
            if step % 7 == 0 {
                wm = t + 100 - Int64.random(in: 0...60, using: &rng)
                s.advance(to: wm)
                model = model.filter { $0.value.expiresAt > wm }
            }
            if step % 500 == 0 {
                #expect(s.count == model.count)
                for (k, v) in model { #expect(s[k] == v.value) }
            }
        }
    }

    /// The log doubles while its ring is wrapped (its start moved by evictions): every key keeps
    /// its value and eviction goes on in arrival order.
    @Test func theLogGrowsAcrossItsWrap() {
        var s = SeenKeys(name: "wrap", capacity: 4)
        for i in 0..<10 { #expect(s.insertIfAbsent("a\(i)", Int64(i), expiresAt: Int64(i)) == nil) }
        s.advance(to: 5) // a0…a5 evicted: the ring's start moves on
        for i in 0..<40 { #expect(s.insertIfAbsent("b\(i)", Int64(100 + i), expiresAt: Int64(100 + i)) == nil) } // two doublings
        #expect(s.count == 44)
        for i in 6..<10 { #expect(s["a\(i)"] == Int64(i)) }
        for i in 0..<40 { #expect(s["b\(i)"] == Int64(100 + i)) }
        s.advance(to: 9)
        #expect(s.count == 40 && s["a9"] == nil && s["b0"] == 100)
        s.advance(to: 120)
        #expect(s.count == 19 && s["b20"] == nil && s["b21"] == 121 && s["b39"] == 139)
    }

    /// Evicted keys leave tombstones that inserts reuse and rebuilds drop: a sliding window of
    /// 50 live keys over 200,000 distinct ones keeps a small index.
    @Test func memoryFollowsLiveKeysNotKeysEverSeen() {
        var s = SeenKeys(name: "dedupe", capacity: 16)
        for i in 0..<200_000 {
            let t = Int64(i)
            #expect(s.insertIfAbsent("e\(i)", t, expiresAt: t + 50) == nil)
            s.advance(to: t)
            if i % 10_000 == 0 { #expect(s["e\(i)"] == t && s["e\(max(0, i - 60))"] == (i < 60 ? 0 : nil)) }
        }
        #expect(s.count == 50)
        #expect(s.indexCapacity <= 512)
        for i in 199_950..<200_000 { #expect(s["e\(i)"] == Int64(i)) }
    }

    @Test func snapshotRestoreKeepsValuesAndTimers() throws {
        var s = SeenKeys(name: "dedupe")
        for i in 0..<1000 { s.set("e\(i)", Int64(i), expiresAt: Int64(i * 10)) }
        s.advance(to: 4_995)
        let bytes = try s.snapshot()
        var t = SeenKeys(name: "dedupe")
        try t.restore(bytes)
        #expect(t.count == 500)
        #expect(t["e500"] == 500)
        #expect(t["e499"] == nil)
        #expect(try t.snapshot() == bytes)
        s.advance(to: 7_000)
        t.advance(to: 7_000)
        #expect(s.count == 299 && t.count == 299)
        #expect(try s.snapshot() == t.snapshot())
        var other = SeenKeys(name: "other")
        #expect(throws: SnapshotError.self) { try other.restore(bytes) }
    }

    /// The same live keys give the same snapshot whatever order they arrived in, keys set again
    /// (dead log entries) and keys sharing an expiry included: the order written is canonical.
    @Test func snapshotBytesDoNotDependOnArrivalOrder() throws {
        for seed in [UInt64(3), 11, 42] {
            var rng = SplitMix64(seed: seed)
            // 2,000 keys over 50 expiries (many ties), a tenth set twice.
            var items = (0..<2_000).map { i in (key: "evt-\((i * 7919) % 10_007)", value: Int64(i), expiresAt: Int64(1_000 + (i % 50) * 10)) }
            var a = SeenKeys(name: "dedupe"), b = SeenKeys(name: "dedupe")
            for it in items { a.set(it.key, it.value, expiresAt: it.expiresAt) }
            for i in stride(from: 0, to: items.count, by: 10) { a.set(items[i].key, items[i].value, expiresAt: items[i].expiresAt + 5) }
            items.shuffle(using: &rng)
            for it in items { b.set(it.key, it.value, expiresAt: it.expiresAt) }
            for it in items where Int(it.value) % 10 == 0 { b.set(it.key, it.value, expiresAt: it.expiresAt + 5) }
            #expect(a.count == b.count, "seed \(seed)")
            #expect(try a.snapshot() == b.snapshot(), "seed \(seed)")
            // Eviction is lazy in arrival order, so after it the two hold different keys; a state
            // restored from b (its log rebuilt in expiry order) still writes b's bytes.
            b.advance(to: 1_200)
            var c = SeenKeys(name: "dedupe")
            try c.restore(try b.snapshot())
            #expect(c.count == b.count, "seed \(seed)")
            #expect(try c.snapshot() == b.snapshot(), "seed \(seed)")
        }
    }
}

/// The fast key of the per-event tables: one hash per string, equal keys equal whichever way
/// they were built.
@Suite struct FastKeyTests {
    @Test func aJoinedKeyIsTheKeyOfItsText() {
        for (scope, id) in [("t-1", "o-1"), ("", ""), ("tenant-with-a-long-name", "order-0000000001"), ("ünï", "🚚/x"), ("a", "")] {
            let joined = FastKey(scope, id), plain = FastKey(scope + "/" + id)
            #expect(joined.text == scope + "/" + id)
            #expect(joined == plain)
            #expect(joined.digest == plain.digest)
            #expect(Set([joined, plain]).count == 1)
        }
        #expect(FastKey("t-1", "o-1") != FastKey("t-1", "o-2"))
    }

    /// Every length from 0 to 40 (the word loop, the overlapping last word, the 4-byte and
    /// 1–3-byte tails): strings differing in any one byte hash differently, and equal strings
    /// built separately hash alike.
    @Test func theHashSeesEveryByte() {
        for n in 0...40 {
            let base = String(repeating: "k", count: n)
            #expect(FastKey.hash(base) == FastKey.hash(String(Array(base))))
            for i in 0..<n {
                var bytes = Array(base.utf8)
                bytes[i] = UInt8(ascii: "j")
                #expect(FastKey.hash(String(decoding: bytes, as: UTF8.self)) != FastKey.hash(base), "length \(n), byte \(i)")
            }
            #expect(FastKey.hash(base) != FastKey.hash(base + "k"))
        }
    }

    /// Incremental checkpoints: a state restored from the head snapshot and the segments written
    /// so far (deletions applied) holds exactly the keys, values and expiries of the original,
    /// at every checkpoint of a seeded run of inserts, keys set again and evictions — and goes on
    /// like it.
    @Test func segmentsRestoreTheLogAtEveryCheckpoint() throws {
        for seed in [UInt64(5), 17, 2024] {
            var rng = SplitMix64(seed: seed)
            var live = SeenKeys(name: "dedupe")
            var store: [String: [UInt8]] = [:] // what Postgres would hold
            var now: Int64 = 0
            var evictedSegments = 0
            for checkpoint in 1...40 {
                for _ in 0..<Int.random(in: 0...300, using: &rng) {
                    now += Int64.random(in: 0...20, using: &rng)
                    let t = now - Int64.random(in: 0...200, using: &rng) // disorder
                    let key = "e\(Int.random(in: 0...3_000, using: &rng))"
                    if Bool.random(using: &rng) { live.set(key, t, expiresAt: t + 500) } else { _ = live.insertIfAbsent(key, t, expiresAt: t + 500) }
                }
                if Int.random(in: 0..<3, using: &rng) > 0 { live.advance(to: now - 300) }
                let head = try live.headSnapshot()
                for e in try live.changedSegments() {
                    if let v = e.value { store[e.key] = v } else { store[e.key] = nil; evictedSegments += 1 }
                }
                var restored = SeenKeys(name: "dedupe")
                try restored.restore(head)
                try restored.restoreSegments(store.map { StateEntry(key: $0.key, value: $0.value) })
                #expect(restored.count == live.count, "seed \(seed), checkpoint \(checkpoint)")
                #expect(try restored.snapshot() == live.snapshot(), "seed \(seed), checkpoint \(checkpoint)")
                // Both go on alike: the same evictions and the same answers.
                var a = live, b = restored
                a.advance(to: now); b.advance(to: now)
                #expect(try a.snapshot() == b.snapshot(), "seed \(seed), checkpoint \(checkpoint)")
                for k in 0..<50 { #expect(live["e\(k * 60)"] == restored["e\(k * 60)"], "seed \(seed)") }
            }
            #expect(evictedSegments > 0, "seed \(seed): eviction passed no segment")
            #expect(store.count < 40, "seed \(seed): evicted segments stay in the store")
        }
    }

    /// What a checkpoint writes follows the keys that arrived since the last one: 200,000 live
    /// keys and 2,000 new ones give a segment of about 1 % of a full snapshot's bytes.
    @Test func aCheckpointWritesTheNewKeysNotEveryLiveKey() throws {
        var s = SeenKeys(name: "dedupe")
        for i in 0..<200_000 { s.set("evt-\(i)-0f6c2d9e", Int64(i), expiresAt: 1_000_000 + Int64(i)) }
        _ = try s.changedSegments()
        for i in 200_000..<202_000 { s.set("evt-\(i)-0f6c2d9e", Int64(i), expiresAt: 1_000_000 + Int64(i)) }
        let written = try s.changedSegments().reduce(0) { $0 + ($1.value?.count ?? 0) } + (try s.headSnapshot().count)
        let full = try s.snapshot().count
        #expect(written * 20 < full, "checkpoint \(written) bytes, full snapshot \(full)")
    }
}

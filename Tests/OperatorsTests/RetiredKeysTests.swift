import Domain
import Ingest
import Testing
@testable import Operators

/// Retired keys, the one state that grows with history (issue 15): kept in sorted runs, and with
/// incremental checkpoints written as the keys retired since the last checkpoint plus merges of
/// runs of similar size — never the whole history at every checkpoint.
@Suite struct RetiredKeysTests {
    static func key(_ i: Int) -> FastKey { FastKey("t-\(i % 7)", "o-\(i)") }

    /// What Postgres would hold: the entries written so far, deletions applied.
    static func apply(_ entries: [StateEntry], to store: inout [String: [UInt8]]) -> Int {
        var bytes = 0
        for e in entries {
            store[e.key] = e.value
            bytes += e.value?.count ?? 0
        }
        return bytes
    }

    static func restored(_ store: [String: [UInt8]], prefix: String = "r ") throws -> RetiredKeys {
        var w = SnapshotWriter()
        RetiredKeys.encodeNone(to: &w)
        var r = SnapshotReader(w.bytes)
        var keys = try RetiredKeys(from: &r)
        for (k, v) in store.sorted(by: { $0.key < $1.key }) {
            #expect(RetiredKeys.isSegment(k, prefix: prefix))
            try keys.restoreSegment(key: k, prefix: prefix, v)
        }
        return keys
    }

    /// Restored at every checkpoint from the runs written so far, the set holds exactly the keys
    /// retired — seeded runs of a few to thousands of keys a checkpoint — and goes on like the
    /// original (the same merges, the same entries).
    @Test func runsRestoreTheSetAtEveryCheckpoint() throws {
        for seed in [UInt64(3), 41, 977] {
            var rng = SplitMix64(seed: seed)
            var live = RetiredKeys()
            var store: [String: [UInt8]] = [:]
            var next = 0
            var deleted = 0
            for checkpoint in 1...60 {
                for _ in 0..<Int.random(in: 0...(checkpoint % 10 == 0 ? 5_000 : 300), using: &rng) {
                    live.insert(Self.key(next))
                    next += 1
                }
                let entries = try live.changedSegments(prefix: "r ")
                deleted += entries.filter { $0.value == nil }.count
                _ = Self.apply(entries, to: &store)
                var restored = try Self.restored(store)
                #expect(restored.count == next, "seed \(seed), checkpoint \(checkpoint)")
                #expect(restored.all() == live.all(), "seed \(seed), checkpoint \(checkpoint)")
                #expect(store.count == live.runCount, "seed \(seed), checkpoint \(checkpoint): one entry a run")
                for _ in 0..<20 {
                    let i = Int.random(in: 0..<(next + 200), using: &rng)
                    #expect(restored.contains(Self.key(i)) == (i < next), "seed \(seed), key \(i)")
                    #expect(live.contains(Self.key(i)) == (i < next), "seed \(seed), key \(i)")
                }
                // Both go on alike.
                var a = live
                for i in next..<(next + 40) { a.insert(Self.key(i)); restored.insert(Self.key(i)) }
                let ea = try a.changedSegments(prefix: "r "), eb = try restored.changedSegments(prefix: "r ")
                #expect(ea == eb, "seed \(seed), checkpoint \(checkpoint)")
            }
            #expect(deleted > 0, "seed \(seed): no run was merged")
            // Runs of similar size merge: a binary counter's worth of them, not one a checkpoint.
            #expect(live.runCount <= 2 * (Int.bitWidth - next.leadingZeroBitCount), "seed \(seed): \(live.runCount) runs for \(next) keys")
        }
    }

    /// A checkpoint writes the keys retired since the one before (now and then a merge), not the
    /// history: 300,000 keys retired, then 200 checkpoints of 50 more each.
    @Test func aCheckpointWritesTheNewKeysNotTheHistory() throws {
        var s = RetiredKeys()
        var store: [String: [UInt8]] = [:]
        for i in 0..<300_000 {
            s.insert(Self.key(i))
            if i % 10_000 == 9_999 { _ = Self.apply(try s.changedSegments(prefix: "r "), to: &store) }
        }
        var full = SnapshotWriter()
        s.encode(to: &full)
        var written: [Int] = []
        for c in 0..<200 {
            for i in 0..<50 { s.insert(Self.key(300_000 + c * 50 + i)) }
            written.append(Self.apply(try s.changedSegments(prefix: "r "), to: &store))
        }
        let sorted = written.sorted()
        // 50 keys are 400 bytes of hashes; the median checkpoint writes about that, and all 200
        // together (merges included) a small multiple of the 10,000 keys they added.
        #expect(sorted[100] < 2_000, "median checkpoint \(sorted[100]) bytes; full set \(full.bytes.count)")
        #expect(written.reduce(0, +) < 10_000 * 8 * 12, "\(written.reduce(0, +)) bytes for 10,000 keys")
        #expect(full.bytes.count > 2_400_000)
        #expect(try Self.restored(store).all() == s.all())
    }

    /// A checkpoint from before runs were entries holds every key in its snapshot: restored, the
    /// next checkpoint writes them out as a run, and the snapshot says none from then on.
    @Test func keysOfAnOlderSnapshotGoOutAsARun() throws {
        var old = RetiredKeys()
        for i in 0..<5_000 { old.insert(Self.key(i)) }
        var w = SnapshotWriter()
        old.encode(to: &w)
        var r = SnapshotReader(w.bytes)
        var restored = try RetiredKeys(from: &r)
        #expect(r.isAtEnd)
        #expect(restored.count == 5_000 && restored.contains(Self.key(4_999)) && !restored.contains(Self.key(5_000)))
        var store: [String: [UInt8]] = [:]
        _ = Self.apply(try restored.changedSegments(prefix: "retired:"), to: &store)
        #expect(store.count == 1)
        #expect(try Self.restored(store, prefix: "retired:").all() == old.all())
    }

    /// Entry keys of runs never look like an order's (`tenant/order`) or a rollup fact's.
    @Test func runEntryKeysAreTheirOwn() {
        #expect(RetiredKeys.isSegment("retired:12", prefix: "retired:"))
        #expect(!RetiredKeys.isSegment("retired:12/o-1", prefix: "retired:"))
        #expect(!RetiredKeys.isSegment("t-1/o-1", prefix: "retired:"))
        #expect(RetiredKeys.isSegment("r 3", prefix: "r "))
        #expect(!RetiredKeys.isSegment("f t-1/o-1", prefix: "r "))
        #expect(!RetiredKeys.isSegment("r t-1/o-1", prefix: "r "))
    }

    /// A run that is not sorted (a damaged entry) is refused, not half-used.
    @Test func aDamagedRunIsRefused() throws {
        var w = SnapshotWriter()
        w.write(RetiredKeys.segmentVersion); w.write(2); w.write(UInt64(9)); w.write(UInt64(3))
        var keys = RetiredKeys()
        #expect(throws: SnapshotError.self) {
            try keys.restoreSegment(key: "r 0", prefix: "r ", try SnapshotEnvelope.seal(operator: "retired_keys", w.bytes))
        }
    }

    /// The stable hash stands for a key in checkpoints: the same for `FastKey(scope, id)` and its
    /// text, on every run (fixed FNV-1a vectors), whatever the scope holds.
    @Test func stableHashesAreTheKeysText() {
        #expect(FastKey("", "").stableHash == 0xaf63_a24c_8601_89fe) // FNV-1a 64 of "/"
        #expect(FastKey("a").stableHash == 0xaf63_dc4c_8601_ec8c)    // FNV-1a 64 of "a"
        for (scope, id) in [("t-0017", "c-2s1qt4bq9vpp2"), ("#abc", "c-1"), ("tenant/with/slash", "x"), ("ünï", "çødé")] {
            #expect(FastKey.stableHash(scope, id) == FastKey(scope, id).stableHash, "\(scope) \(id)")
            #expect(FastKey.stableHash(scope, id) == FastKey(scope + "/" + id).stableHash)
        }
    }

    /// A customer's first order is kept by the hash of `tenant/customer`: its entry key reads back
    /// to the same hash, and so does an older checkpoint's text key (even a tenant starting with
    /// `#`); restored twice, the earlier time stays.
    @Test func firstOrderKeysReadBackFromHashAndText() {
        let h = FastKey("t-1", "c-9").stableHash
        #expect(Rollups.firstOrderKey(h).utf8.count == 17)
        #expect(Rollups.firstOrderHash(Rollups.firstOrderKey(h)) == h)
        #expect(Rollups.firstOrderHash(Rollups.firstOrderKey(7)) == 7)
        #expect(Rollups.firstOrderHash("t-1/c-9") == h)
        #expect(Rollups.firstOrderHash("#t/c") == FastKey("#t/c").stableHash)
        var r = Rollups(granularities: [.hour], allowedLateness: 600_000)
        r.keepFirstOrder(h, 500); r.keepFirstOrder(h, 900); r.keepFirstOrder(h, 300); r.keepFirstOrder(h, 400)
        #expect(r.firstOrder[h] == 300)
    }
}

import Ingest
import Testing
@testable import Operators

/// The raw-record store the Parquet `events` table reads: each event id's first record, whether
/// the events are asked in arrival order (the usual case: a walk forward), out of order, or not
/// at all; duplicates carry different bytes here so a wrong pick shows. Seeded (the seed is in
/// any failure's message).
@Suite struct RawRecordsTests {
    @Test func readersFindEachIdsFirstRecordInAnyOrder() {
        for seed: UInt64 in [1, 2, 3, 20261201] {
            var rng = SplitMix64(seed: seed)
            var raw = RawRecords()
            var first: [String: [UInt8]] = [:]
            var arrival: [String] = []
            for n in 0..<2_000 {
                // About 5 % duplicates of a recent id, with bytes of their own.
                let id = n > 10 && Int.random(in: 0..<20, using: &rng) == 0 ? arrival[arrival.count - Int.random(in: 1...10, using: &rng)] : "e-\(n)"
                let bytes = Array("{\"n\":\(n),\"id\":\"\(id)\"}".utf8)
                bytes.withUnsafeBytes { raw.add(id, $0) }
                if first[id] == nil { first[id] = bytes; arrival.append(id) }
            }
            // What dedupe lets through: in order; with one pair swapped whose first id has a
            // later duplicate (the walk must not take that duplicate's record); with many pairs
            // swapped and ids never seen.
            let inOrder = arrival.filter { _ in Int.random(in: 0..<10, using: &rng) != 0 }
            var lastAt: [String: Int] = [:]
            for i in 0..<raw.count { lastAt[raw.ids[i]] = i }
            var oneSwap = inOrder
            if let i = (0..<(inOrder.count - 1)).first(where: { lastAt[inOrder[$0]]! > raw.ids.firstIndex(of: inOrder[$0 + 1])! }) {
                oneSwap.swapAt(i, i + 1)
            } else {
                Issue.record("seed \(seed): no id with a later duplicate")
            }
            var many = inOrder
            for _ in 0..<30 {
                let i = Int.random(in: 0..<(many.count - 1), using: &rng)
                many.swapAt(i, i + 1)
            }
            many.insert("missing", at: 500)
            many.append("also missing")
            for (name, asks) in [("in order", inOrder), ("one swap", oneSwap), ("many swaps", many)] {
                var reader = raw.reader
                var wrong = 0
                for id in asks where reader.withRecord(id, { Array($0) }) != (first[id] ?? []) { wrong += 1 }
                #expect(wrong == 0, "seed \(seed), \(name): \(wrong) wrong records")
            }
        }
    }
}

import Foundation
import Testing
@testable import Domain
@testable import Ingest

/// Random, truncated and mutated bytes never crash the decoder; every answer is a valid event or
/// a rejection with a known reason, and nothing that is not a JSON object is ever accepted.
@Suite struct FuzzTests {
    /// A spread of types: every 7th record of a small stream plus the hand-written samples.
    static let seeds = Samples.generatedAndValid(seed: 99, tenants: 3, ordersPerDay: 10, every: 7)

    @Test func randomBytes() {
        var rng = SplitMix64(seed: 1)
        let decoder = EventDecoder()
        var rejected = 0
        for n in 0..<40_000 {
            let len = rng.int(0...(n % 10 == 0 ? 2000 : 64))
            var bytes = [UInt8](repeating: 0, count: len)
            // Mostly JSON-ish characters so the parser gets deep, sometimes raw noise.
            let alphabet = Array(#"{}[]":,.-+0123456789eEtrufalsn \"\\/ubx"#.utf8)
            let noisy = rng.chance(0.3)
            for i in 0..<len { bytes[i] = noisy ? UInt8(truncatingIfNeeded: rng.next()) : rng.pick(alphabet) }
            if case .failure = decoder.decode(bytes) { rejected += 1 }
        }
        #expect(rejected == 40_000) // random text is never a valid event
    }

    @Test func truncatedRecordsAreRejected() {
        let decoder = EventDecoder()
        var rng = SplitMix64(seed: 2)
        var checked = 0
        while checked < 30_000 {
            let record = rng.pick(Self.seeds)
            let cut = rng.int(0...(record.count - 1))
            switch decoder.decode(Array(record[..<cut])) {
            case .success:
                Issue.record("accepted a record truncated at \(cut) of \(record.count)")
            case .failure(let r):
                #expect([.invalidJSON, .invalidUTF8].contains(r.reason), "\(r)")
            }
            checked += 1
        }
    }

    @Test func mutatedRecords() throws {
        let decoder = EventDecoder()
        var rng = SplitMix64(seed: 3)
        var accepted = 0
        for _ in 0..<35_000 {
            var record = rng.pick(Self.seeds)
            for _ in 0..<rng.int(1...3) {
                let i = rng.int(0...(record.count - 1))
                switch rng.int(0...3) {
                case 0: record[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: record.remove(at: i)
                case 2: record.insert(rng.pick(Array(#"{}[]":,0-."#.utf8)), at: i)
                default: record[i] = rng.pick(Array(#"{}[]":,0-.\aé"#.utf8))
                }
            }
            if case .success = decoder.decode(record) {
                accepted += 1
                // An oracle we did not write: anything we accept is a JSON object to Foundation too.
                let obj = try? JSONSerialization.jsonObject(with: Data(record))
                #expect(obj is [String: Any], "accepted something Foundation does not read as an object: \(String(decoding: record, as: UTF8.self))")
            }
        }
        #expect(accepted > 0) // many single-byte changes land in free text and stay valid
    }

    @Test func deepNestingIsRejectedNotACrash() {
        let deep = String(repeating: "[", count: 100_000)
        let r = EventDecoder().decode(Samples.envelope("order.completed", #"{"order_id":"o","x":\#(deep)}"#))
        guard case .failure(let f) = r else { Issue.record("accepted"); return }
        #expect(f.reason == .invalidJSON)
    }
}

import Foundation
import Testing
@testable import Domain
@testable import Ingest

@Suite struct GeneratorTests {
    static func config(seed: UInt64 = 7) -> GeneratorConfig {
        var c = GeneratorConfig()
        c.seed = seed
        c.tenants = 8
        c.days = 2
        c.ordersPerDay = 25
        return c
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() {
        var a = StreamGenerator(Self.config()), b = StreamGenerator(Self.config()), c = StreamGenerator(Self.config(seed: 8))
        let ra = a.generateAll().map(\.value), rb = b.generateAll().map(\.value), rc = c.generateAll().map(\.value)
        #expect(ra == rb)
        #expect(ra != rc)
    }

    @Test func everyRecordIsValidAndEveryCatalogTypeAppears() throws {
        var g = StreamGenerator(Self.config())
        let records = g.generateAll()
        let decoder = EventDecoder()
        var types = Set<EventType>()
        var ids = Set<String>()
        for r in records {
            let e = try decoder.decode(r.value).get()
            types.insert(e.type)
            #expect(ids.insert(e.eventID).inserted, "duplicate id \(e.eventID)")
            #expect(r.topic == e.type.defaultTopic)
            #expect(r.key == e.kafkaKey)
            #expect(r.eventTime == e.time)
        }
        #expect(types == Set(EventType.catalog), "missing: \(Set(EventType.catalog).subtracting(types))")
    }

    @Test func disorderIsBoundedDuplicatesAreExactAndMalformedAreRejected() throws {
        var c = Self.config()
        c.disorderMillis = 20_000
        c.duplicates = 0.01
        c.malformed = 0.01
        var g = StreamGenerator(c)
        let records = g.generateAll()
        let decoder = EventDecoder()
        var maxEventTime = Int64.min / 2
        var seen: [String: [UInt8]] = [:]
        var duplicates = 0
        var reasons: [RejectReason: Int] = [:]
        for (i, r) in records.enumerated() {
            if i > 0 { #expect(r.arrival >= records[i - 1].arrival) }
            switch decoder.decode(r.value) {
            case .success(let e):
                // Out-of-order by at most the bound.
                #expect(e.time >= maxEventTime - 20_000 || seen[e.eventID] != nil)
                maxEventTime = max(maxEventTime, e.time)
                if let first = seen[e.eventID] {
                    #expect(first == r.value) // a re-delivery is byte-identical
                    duplicates += 1
                } else {
                    seen[e.eventID] = r.value
                }
            case .failure(let f):
                reasons[f.reason, default: 0] += 1
            }
        }
        #expect(duplicates > 0)
        #expect(Set(reasons.keys) == Set(Malformer.expectedReasons), "\(reasons)")
    }
}

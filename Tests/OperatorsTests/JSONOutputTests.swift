import Domain
import Foundation
import Testing
@testable import Operators

/// Rows and derived events as JSON: one escaper for every string, read back by Foundation.
@Suite struct JSONOutputTests {
    static let hostile = "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} bell \u{7} unit \u{1F} ünïcødé 🚚 end"

    @Test func everyStringSurvivesARoundTrip() throws {
        let row = OutputRow([(Self.hostile, .string(Self.hostile)), ("n", .int(-42)), ("ok", .bool(true)),
                             ("list", .strings([Self.hostile, "b"])), ("x", .number("2.5")), ("none", .null)])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(row.json.utf8)) as? [String: Any])
        #expect(doc[Self.hostile] as? String == Self.hostile)
        #expect(doc["n"] as? Int == -42)
        #expect(doc["ok"] as? Bool == true)
        #expect(doc["list"] as? [String] == [Self.hostile, "b"])
        #expect(doc["x"] as? Double == 2.5)
        #expect(doc["none"] is NSNull)
        #expect(row.json.contains("\\u0000") && row.json.contains("\\u001f")) // control characters as \u00XX
    }

    /// Instants stay milliseconds until written: JSON, scenario text and Postgres text all give
    /// the RFC 3339 UTC form, and an instant equals the string it writes as.
    @Test func instantsAreWrittenAtTheEdge() throws {
        let t: EpochMillis = 1_772_323_200_123 // 2026-03-01T00:00:00.123Z
        let row = OutputRow([("eta", .time(t)), ("before_1970", .time(-1)), ("year_10000", .time(253_402_300_800_000))])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(row.json.utf8)) as? [String: Any])
        #expect(doc["eta"] as? String == "2026-03-01T00:00:00.123Z")
        #expect(doc["before_1970"] as? String == "1969-12-31T23:59:59.999Z")
        #expect(doc["year_10000"] as? String == RFC3339.format(253_402_300_800_000))
        #expect(OutputValue.time(t).description == "2026-03-01T00:00:00.123Z")
        #expect(OutputValue.time(t) == .string("2026-03-01T00:00:00.123Z"))
        #expect(OutputValue.string("2026-03-01T00:00:00.123Z") == .time(t))
        #expect(OutputValue.time(t) != .string("2026-03-01T00:00:00.124Z"))
        #expect(OutputValue.time(t) != .int(t))
        var bytes: [UInt8] = Array("x".utf8)
        RFC3339.append(t, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "x2026-03-01T00:00:00.123Z")
    }

    @Test func derivedEventEnvelope() throws {
        let d = DerivedEvent(type: "order.transition_rejected", time: 1_772_323_200_123, tenantID: "t-1", causationID: "e-1",
                             correlationID: Self.hostile, data: [("order_id", .string("o-1")), ("reason", .string(Self.hostile))])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(d.jsonBytes)) as? [String: Any])
        #expect(doc["event_id"] as? String == d.eventID)
        #expect(doc["event_type"] as? String == "order.transition_rejected")
        #expect(doc["version"] as? String == "1.0")
        #expect(doc["timestamp"] as? String == "2026-03-01T00:00:00.123Z")
        #expect(doc["correlation_id"] as? String == Self.hostile)
        #expect(doc["causation_id"] as? String == "e-1")
        #expect((doc["data"] as? [String: Any])?["reason"] as? String == Self.hostile)
        #expect(d.json == String(decoding: d.jsonBytes, as: UTF8.self))
        let plain = DerivedEvent(type: "x", time: 0, tenantID: "t", causationID: "c", correlationID: nil, data: [])
        #expect(!plain.json.contains("correlation_id"))
    }

    /// Replay's output files write each result straight to JSON (``StageResult/appendRowJSON(to:)``):
    /// the same bytes as the row's JSON, for every result of the default pipeline over a generated
    /// stream and for a derived event with hostile strings in every field.
    @Test func resultsWrittenDirectlyEqualTheirRows() throws {
        let runner = try DomainDeterminismTests.run(DomainDeterminismTests.stream.map { (arrival: $0.arrival, rec: $0) }, partitions: 1, batch: 512)
        var checked = 0, events = 0
        for results in runner.outputs {
            for r in results {
                var direct: [UInt8] = []
                r.appendRowJSON(to: &direct)
                #expect(String(decoding: direct, as: UTF8.self) == r.row.json)
                checked += 1
                if case .event = r { events += 1 }
            }
        }
        #expect(checked > 1_000 && events > 500)
        let d = DerivedEvent(type: Self.hostile, time: 1_772_323_200_123, tenantID: Self.hostile, causationID: Self.hostile,
                             correlationID: Self.hostile, data: [(Self.hostile, .string(Self.hostile)), ("n", .int(3)), ("none", .null)])
        var direct: [UInt8] = []
        StageResult.event(d).appendRowJSON(to: &direct)
        #expect(String(decoding: direct, as: UTF8.self) == d.row.json)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(direct)) as? [String: Any])
        #expect(doc["data." + Self.hostile] as? String == Self.hostile)
    }
}

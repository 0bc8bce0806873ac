import Domain
import Foundation
import Testing
@testable import Operators

/// Rows and derived events as JSON: one escaper for every string, read back by Foundation.
@Suite struct JSONOutputTests {
    static let hostile = "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} bell \u{7} unit \u{1F} ünïcødé 🚚 end"

    /// Derived event ids never change between versions (consumers dedupe a replay's events by
    /// them): `d-` + 16 hex digits of FNV-1a over the cause, the type and the first data value as
    /// text, each followed by 0x1f — computed here on its own and pinned for two events (the
    /// pinned values by a separate Python FNV-1a). The JSON forms carry the same id.
    @Test func derivedEventIDsAreStable() throws {
        func reference(_ parts: [String]) -> String {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for p in parts {
                for b in Array(p.utf8) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
                h = (h ^ 0x1f) &* 0x100_0000_01b3
            }
            let hex = String(h, radix: 16)
            return "d-" + String(repeating: "0", count: 16 - hex.count) + hex
        }
        func event(_ cause: String, _ type: String, _ data: [(String, OutputValue)]) -> DerivedEvent {
            DerivedEvent(type: type, time: 1_772_323_200_000, tenantID: "t-1", causationID: cause, correlationID: nil, data: data)
        }
        #expect(event("evt-1", "order.status_changed", [("order_id", .string("o-1")), ("to", .string("paid"))]).eventID == "d-c695791389b02d83")
        #expect(event("evt-2", "quota.warning", []).eventID == "d-127932a93fd62252")
        let firsts: [(OutputValue?, String)] = [
            (.string("dl-9"), "dl-9"), (.string(Self.hostile), Self.hostile), (.string(""), ""), (.int(-42), "-42"),
            (.int(0), "0"), (.bool(true), "true"), (.number("2.50"), "2.50"), (.time(1_772_323_200_123), "2026-03-01T00:00:00.123Z"),
            (.strings(["a", "b"]), "[a, b]"), (.null, "null"), (nil, ""),
        ]
        for (i, (first, text)) in firsts.enumerated() {
            let e = event("evt-\(i)-ü", "delivery.eta_updated", first.map { [("x", $0), ("y", .int(1))] } ?? [])
            let id = reference(["evt-\(i)-ü", "delivery.eta_updated", text])
            #expect(e.eventID == id, "first value \(String(describing: first))")
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(e.jsonBytes)) as? [String: Any])
            #expect(doc["event_id"] as? String == id)
            var row: [UInt8] = []
            e.appendRowJSON(to: &row)
            let rowDoc = try #require(try JSONSerialization.jsonObject(with: Data(row)) as? [String: Any])
            #expect(rowDoc["event_id"] as? String == id)
        }
    }

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

import Domain
import Ingest

/// A derived event (CONTRACT §3.5): the input envelope's shape, `causation_id` = the triggering
/// event, `correlation_id` carried over, and a deterministic `event_id` (the same input always
/// yields the same id, so consumers can dedupe after a replay).
public struct DerivedEvent: Equatable, Sendable {
    /// Shared, immutable storage: a derived event is handed to the output, to the operators that
    /// take it (a rollup's `statuses`) and sorted into emission order — a copy must cost one
    /// reference count, not one per string and per data field (measured: copies of the struct
    /// were ~a third of the operators' reference counting).
    final class Storage: Sendable {
        let type: String
        let time: EpochMillis
        let tenantID: String
        let causationID: String
        let correlationID: String?
        let data: [(String, OutputValue)]
        init(type: String, time: EpochMillis, tenantID: String, causationID: String, correlationID: String?, data: [(String, OutputValue)]) {
            self.type = type; self.time = time; self.tenantID = tenantID
            self.causationID = causationID; self.correlationID = correlationID; self.data = data
        }
    }

    let storage: Storage

    public var type: String { storage.type }
    public var time: EpochMillis { storage.time }
    public var tenantID: String { storage.tenantID }
    public var causationID: String { storage.causationID }
    public var correlationID: String? { storage.correlationID }
    /// `data` fields in order.
    public var data: [(String, OutputValue)] { storage.data }

    public init(type: String, time: EpochMillis, tenantID: String, causationID: String, correlationID: String?, data: [(String, OutputValue)]) {
        storage = Storage(type: type, time: time, tenantID: tenantID, causationID: causationID, correlationID: correlationID, data: data)
    }

    /// `d-` + 16 hex digits of FNV-1a over the cause, the type and the first data value (its
    /// ``OutputValue/description``), each followed by 0x1f.
    public var eventID: String {
        var out: [UInt8] = []
        out.reserveCapacity(18)
        appendEventID(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ``eventID``'s bytes appended to `out`, without a `String` on the way (every derived
    /// event's JSON starts with it).
    public func appendEventID(to out: inout [UInt8]) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) {
            var s = s
            s.withUTF8 { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
            h = (h ^ 0x1f) &* 0x100_0000_01b3
        }
        mix(causationID)
        mix(type)
        mix(data.first?.1.description ?? "") // a string's description is itself: no copy
        out.append(UInt8(ascii: "d")); out.append(UInt8(ascii: "-"))
        for shift in stride(from: 60, through: 0, by: -4) {
            let nibble = UInt8(truncatingIfNeeded: h >> UInt64(shift)) & 0xF
            out.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble) // 0-9, a-f
        }
    }

    /// ``row``'s JSON appended to `out`, written straight from the event (no row built: replay's
    /// output files format ~100 k of these at the end of a week).
    public func appendRowJSON(to out: inout [UInt8]) {
        func key(_ k: StaticString) { JSONWriter.appendLiteral(k, to: &out) }
        key("{\"event_id\":\""); appendEventID(to: &out); out.append(UInt8(ascii: "\""))
        key(",\"event_type\":"); JSONWriter.appendEscaped(type, to: &out)
        key(",\"timestamp\":"); OutputValue.time(time).appendJSON(to: &out)
        key(",\"tenant_id\":"); JSONWriter.appendEscaped(tenantID, to: &out)
        key(",\"causation_id\":"); JSONWriter.appendEscaped(causationID, to: &out)
        if let correlationID { key(",\"correlation_id\":"); JSONWriter.appendEscaped(correlationID, to: &out) }
        for (k, v) in data {
            out.append(UInt8(ascii: ","))
            JSONWriter.appendEscaped(k, after: "data.", to: &out)
            out.append(UInt8(ascii: ":"))
            v.appendJSON(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// As a row: envelope fields, then `data.<field>`.
    public var row: OutputRow {
        var f: [(String, OutputValue)] = [("event_id", .string(eventID)), ("event_type", .string(type)),
                                          ("timestamp", .time(time)), ("tenant_id", .string(tenantID)),
                                          ("causation_id", .string(causationID))]
        if let correlationID { f.append(("correlation_id", .string(correlationID))) }
        for (k, v) in data { f.append(("data.\(k)", v)) }
        return OutputRow(f)
    }

    /// The envelope as JSON, for Kafka and files.
    public var json: String { String(decoding: jsonBytes, as: UTF8.self) }

    /// ``json`` as bytes.
    public var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        appendJSON(to: &out)
        return out
    }

    /// Appends ``json``'s bytes to `out` (part files build one buffer of many).
    public func appendJSON(to out: inout [UInt8]) {
        func key(_ k: StaticString) { JSONWriter.appendLiteral(k, to: &out) }
        key("{\"event_id\":\""); appendEventID(to: &out); out.append(UInt8(ascii: "\""))
        key(",\"event_type\":"); JSONWriter.appendEscaped(type, to: &out)
        key(",\"version\":\"1.0\",\"timestamp\":"); OutputValue.time(time).appendJSON(to: &out)
        key(",\"tenant_id\":"); JSONWriter.appendEscaped(tenantID, to: &out)
        if let correlationID { key(",\"correlation_id\":"); JSONWriter.appendEscaped(correlationID, to: &out) }
        key(",\"causation_id\":"); JSONWriter.appendEscaped(causationID, to: &out)
        key(",\"actor\":{\"type\":\"service\",\"id\":\"wakala-stream\"},\"data\":{")
        for (i, f) in data.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendEscaped(f.0, to: &out)
            out.append(UInt8(ascii: ":"))
            f.1.appendJSON(to: &out)
        }
        key("}}")
    }

    public static func == (a: DerivedEvent, b: DerivedEvent) -> Bool { a.row == b.row }
}

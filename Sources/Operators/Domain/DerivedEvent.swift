import Domain

/// A derived event (CONTRACT §3.5): the input envelope's shape, `causation_id` = the triggering
/// event, `correlation_id` carried over, and a deterministic `event_id` (the same input always
/// yields the same id, so consumers can dedupe after a replay).
public struct DerivedEvent: Equatable, Sendable {
    public var type: String
    public var time: EpochMillis
    public var tenantID: String
    public var causationID: String
    public var correlationID: String?
    /// `data` fields in order.
    public var data: [(String, OutputValue)]

    public init(type: String, time: EpochMillis, tenantID: String, causationID: String, correlationID: String?, data: [(String, OutputValue)]) {
        self.type = type; self.time = time; self.tenantID = tenantID
        self.causationID = causationID; self.correlationID = correlationID; self.data = data
    }

    /// `d-` + 16 hex digits of FNV-1a over the cause, the type and the first data value.
    public var eventID: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let parts = [causationID, type, data.first?.1.description ?? ""]
        for part in parts {
            for b in part.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0x1f) &* 0x100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return "d-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// As a row: envelope fields, then `data.<field>`.
    public var row: OutputRow {
        var f: [(String, OutputValue)] = [("event_id", .string(eventID)), ("event_type", .string(type)),
                                          ("timestamp", .string(RFC3339.format(time))), ("tenant_id", .string(tenantID)),
                                          ("causation_id", .string(causationID))]
        if let correlationID { f.append(("correlation_id", .string(correlationID))) }
        for (k, v) in data { f.append(("data.\(k)", v)) }
        return OutputRow(f)
    }

    /// The envelope as JSON, for Kafka and files.
    public var json: String {
        var s = "{\"event_id\":\(OutputValue.string(eventID).json),\"event_type\":\(OutputValue.string(type).json),\"version\":\"1.0\","
        s += "\"timestamp\":\(OutputValue.string(RFC3339.format(time)).json),\"tenant_id\":\(OutputValue.string(tenantID).json),"
        if let correlationID { s += "\"correlation_id\":\(OutputValue.string(correlationID).json)," }
        s += "\"causation_id\":\(OutputValue.string(causationID).json),\"actor\":{\"type\":\"service\",\"id\":\"wakala-stream\"},"
        s += "\"data\":{" + data.map { "\(OutputValue.string($0.0).json):\($0.1.json)" }.joined(separator: ",") + "}}"
        return s
    }

    public static func == (a: DerivedEvent, b: DerivedEvent) -> Bool { a.row == b.row }
}

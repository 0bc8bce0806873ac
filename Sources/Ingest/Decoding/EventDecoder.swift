import Domain

/// Decodes and validates one input record (CONTRACT §1) from its raw bytes.
///
/// Every bad-input rule yields a ``Rejection`` with a stable reason code and a detail naming the
/// field; the caller keeps the record's bytes unchanged for the dead-letter output. Syntax wins
/// over meaning: a record that is not valid JSON anywhere is `invalid_json` (or `invalid_utf8`)
/// even when an earlier field was also wrong. No input makes it crash.
public struct EventDecoder: Sendable {
    /// The default limit: records over 1 MiB are rejected as `too_large`.
    public static let maxRecordBytes = 1 << 20
    /// Orders hold 1–500 items.
    public static let maxItems = 500

    /// Records over this many bytes are rejected as `too_large` (the source's `max_record_bytes`).
    public let maxRecordBytes: Int

    public init(maxRecordBytes: Int = EventDecoder.maxRecordBytes) { self.maxRecordBytes = maxRecordBytes }

    /// Decodes one record.
    public func decode(_ bytes: UnsafeRawBufferPointer) -> Result<Event, Rejection> {
        guard bytes.count <= maxRecordBytes else {
            return .failure(Rejection(.tooLarge, "record is \(bytes.count) bytes; the limit is \(maxRecordBytes) (the source's max_record_bytes)"))
        }
        guard bytes.count > 0, let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return .failure(Rejection(.invalidJSON, "empty record"))
        }
        do throws(Rejection) {
            return .success(try decodeRecord(base, bytes.count))
        } catch {
            switch error.reason {
            case .invalidJSON:
                // Bytes that are not UTF-8 at all are named as such, wherever they are.
                if let bad = Self.firstInvalidUTF8(base, bytes.count) {
                    return .failure(Rejection(.invalidUTF8, "invalid UTF-8 at byte \(bad)"))
                }
                return .failure(error)
            case .invalidUTF8, .tooLarge, .notAnObject:
                return .failure(error)
            default:
                // A semantic error was found first; the record may still be broken further on.
                var c = JSONCursor(base: base, end: bytes.count)
                do throws(Rejection) {
                    try c.skipValue()
                    c.skipWS()
                    if c.i != c.end { throw c.syntax("unexpected characters after the object") }
                } catch {
                    return .failure(error)
                }
                return .failure(error)
            }
        }
    }

    /// The offset of the first byte that is not part of valid UTF-8, if any.
    static func firstInvalidUTF8(_ base: UnsafePointer<UInt8>, _ count: Int) -> Int? {
        var i = 0
        while i < count {
            if base[i] < 0x80 { i += 1; continue }
            let at = i
            do throws(Rejection) { try JSONCursor.validateUTF8Sequence(base, &i, count) } catch { return at }
        }
        return nil
    }

    /// Decodes one record held in an array.
    public func decode(_ bytes: [UInt8]) -> Result<Event, Rejection> {
        bytes.withUnsafeBytes { decode($0) }
    }

    /// Decodes one record held in a string (tests, the CLI).
    public func decode(_ text: String) -> Result<Event, Rejection> {
        var t = text
        return t.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    private enum VersionState { case unseen, supported(Int), unsupported(String) }

    private func decodeRecord(_ base: UnsafePointer<UInt8>, _ count: Int) throws(Rejection) -> Event {
        var r = FieldReader(JSONCursor(base: base, end: count))
        let kind = try r.cur.peekKind()
        guard kind == .object else {
            try r.cur.skipValue()
            r.cur.skipWS()
            if r.cur.i != r.cur.end { throw r.cur.syntax("unexpected characters after the value") }
            throw Rejection(.notAnObject, "the record is \(kind.name), not a JSON object")
        }
        r.cur.i += 1

        var eventID: String?
        var typeToken: StringToken?
        var type: EventType?
        var version = VersionState.unseen
        var time: EpochMillis?
        var tenantID: String?
        var correlationID: String?
        var causationID: String?
        var actor: Actor?
        var payload: Payload?
        var deferredData: Int?

        var first = true
        while let key = try r.cur.nextKey(&first) {
            let c = r.cur
            if c.key(key, is: "event_id") {
                eventID = try r.id("event_id")
            } else if c.key(key, is: "event_type") {
                let t = try r.stringToken("event_type")
                typeToken = t
                type = try r.cur.withBytes(t) { (b: UnsafeRawBufferPointer) throws(Rejection) -> EventType? in Tables.eventType.match(b) }
            } else if c.key(key, is: "version") {
                let t = try r.stringToken("version")
                version = try r.cur.withBytes(t) { (b: UnsafeRawBufferPointer) throws(Rejection) -> VersionState in
                    if let minor = Self.minorVersion(b) { return .supported(minor) }
                    return .unsupported(String(decoding: b, as: UTF8.self))
                }
            } else if c.key(key, is: "timestamp") {
                time = try r.timestamp("timestamp")
            } else if c.key(key, is: "tenant_id") {
                tenantID = try r.id("tenant_id")
            } else if c.key(key, is: "data") {
                // Parse in place when the type and version are already known (the usual field
                // order); otherwise remember where it starts and parse it at the end.
                if let t = type, case .supported = version {
                    payload = try Self.parseData(t, &r)
                } else {
                    deferredData = r.cur.i
                    try r.cur.skipValue()
                }
            } else if c.key(key, is: "correlation_id") {
                correlationID = try r.optionalText("correlation_id")
            } else if c.key(key, is: "causation_id") {
                causationID = try r.optionalText("causation_id")
            } else if c.key(key, is: "actor") {
                actor = try r.takeNull() ? nil : try Self.parseActor(&r)
            } else {
                try r.cur.skipValue() // metadata and unknown fields: forward compatible
            }
        }
        r.cur.skipWS()
        if r.cur.i != r.cur.end { throw r.cur.syntax("unexpected characters after the object") }

        guard let typeToken else { throw r.missing("event_type") }
        guard let type else {
            throw Rejection(.unknownEventType, "event_type \"\(r.cur.string(typeToken))\" is not in the catalog")
        }
        let minor: Int
        switch version {
        case .unseen: throw r.missing("version")
        case .unsupported(let v): throw Rejection(.unsupportedVersion, "version \"\(v)\" is not supported; this pipeline reads 1.x")
        case .supported(let m): minor = m
        }
        guard let eventID else { throw r.missing("event_id") }
        guard let time else { throw r.missing("timestamp") }
        guard let tenantID else { throw r.missing("tenant_id") }
        if payload == nil {
            guard let start = deferredData else { throw r.missing("data") }
            var d = FieldReader(JSONCursor(base: base, start: start, end: count))
            payload = try Self.parseData(type, &d)
        }
        return Event(eventID: eventID, type: type, minorVersion: minor, time: time, tenantID: tenantID,
                     correlationID: correlationID, causationID: causationID, actor: actor, payload: payload!)
    }

    /// `"1"` or `"1.N"` → N (0 for `"1"`); anything else → nil.
    static func minorVersion(_ b: UnsafeRawBufferPointer) -> Int? {
        guard b.count >= 1, b[0] == UInt8(ascii: "1") else { return nil }
        if b.count == 1 { return 0 }
        guard b.count >= 3, b.count <= 8, b[1] == UInt8(ascii: ".") else { return nil }
        var m = 0
        for c in b[2...] {
            guard c >= 48 && c <= 57 else { return nil }
            m = m * 10 + Int(c - 48)
        }
        return m
    }

    static func parseActor(_ r: inout FieldReader) throws(Rejection) -> Actor {
        try r.enterObject("actor")
        r.prefix = "actor"
        defer { r.prefix = "" }
        var type: ActorType?, id: String?
        var first = true
        while let key = try r.cur.nextKey(&first) {
            if r.cur.key(key, is: "type") { type = try r.oneOf("type", Tables.actorType) }
            else if r.cur.key(key, is: "id") { id = try r.id("id") }
            else { try r.cur.skipValue() }
        }
        guard let type else { throw r.missing("type") }
        guard let id else { throw r.missing("id") }
        return Actor(type: type, id: id)
    }
}

import Domain

/// Turns a valid record into one that breaks a bad-input rule of CONTRACT §1, cycling through the
/// rules so a stream with `--malformed` exercises every dead-letter reason.
enum Malformer {
    /// The reason each kind of corruption must be rejected with, in cycle order.
    static let expectedReasons: [RejectReason] = [
        .invalidJSON, .invalidUTF8, .notAnObject, .missingField, .wrongType, .unknownEventType,
        .unsupportedVersion, .invalidTimestamp, .invalidValue, .invalidMoney, .outOfRange,
    ]

    /// A corrupted copy of `value` of the given kind, or nil when that kind does not apply to this
    /// event (money corruption of an event without money); the caller tries again on a later one.
    static func corrupt(_ value: [UInt8], kind: Int, rng: inout SplitMix64) -> [UInt8]? {
        let text = String(decoding: value, as: UTF8.self)
        func replacing(_ a: String, _ b: String) -> [UInt8] {
            guard let r = text.range(of: a) else { return Array("{\"event_id\":".utf8) }
            return Array(text.replacingCharacters(in: r, with: b).utf8)
        }
        switch kind % expectedReasons.count {
        case 0: return Array(value[..<max(1, value.count / 2)]) // truncated
        case 1:
            var v = value
            v.insert(0xFF, at: min(15, v.count)) // inside the event_id string
            return v
        case 2: return Array("[".utf8) + value + Array("]".utf8)
        case 3: return replacing("\"tenant_id\":", "\"tenant\":")
        case 4: return replacing("\"event_id\":\"", "\"event_id\":\(rng.int(1...9999)),\"x\":\"")
        case 5: return replacing("\"event_type\":\"", "\"event_type\":\"legacy.")
        case 6: return replacing("\"version\":\"1.", "\"version\":\"2.")
        case 7: return replacing("\"timestamp\":\"", "\"timestamp\":\"yesterday ")
        case 8: return replaceSetValue(text)
        case 9: return replaceMoney(text)
        default: return Array(text.replacingOccurrences(of: "\"tenant_id\":\"", with: "\"tenant_id\":\"\(String(repeating: "x", count: 130))").utf8)
        }
    }

    /// A closed-set value replaced by one outside its set (or a tier for events without one).
    private static func replaceSetValue(_ text: String) -> [UInt8] {
        for field in ["\"payment_method\":\"", "\"method\":\"", "\"resource\":\"", "\"channel\":\"", "\"tier\":\"", "\"type\":\""] {
            if let r = text.range(of: field) {
                return Array((text[..<r.upperBound] + "bitcoin_" + text[r.upperBound...]).utf8)
            }
        }
        // No closed-set field (driver locations): add an actor of an unknown kind.
        return Array(("{\"actor\":{\"type\":\"robot\",\"id\":\"r2\"}," + text.dropFirst()).utf8)
    }

    /// Money with three decimals, when the event carries money.
    private static func replaceMoney(_ text: String) -> [UInt8]? {
        guard !text.contains("\"resource\"") else { return nil }
        for field in ["\"amount\":", "\"total_amount\":"] {
            if let r = text.range(of: field) {
                var rest = text[r.upperBound...]
                let quoted = rest.hasPrefix("\"")
                if quoted { rest = rest.dropFirst() }
                let end = rest.firstIndex { !"0123456789.".contains($0) } ?? rest.endIndex
                return Array((text[..<r.upperBound] + (quoted ? "\"" : "") + "12.345" + rest[end...]).utf8)
            }
        }
        return nil
    }
}

/// Why an input record was not accepted (CONTRACT §1 "Bad input"). The raw values are the
/// stable snake_case codes written to the dead-letter output's `reason`.
public enum RejectReason: String, CaseIterable, Sendable, Codable {
    /// The record is over the source's `max_record_bytes` (default 1 MiB).
    case tooLarge = "too_large"
    /// The record's bytes are not valid UTF-8 (or a `\u` escape is a lone surrogate).
    case invalidUTF8 = "invalid_utf8"
    /// The record is not valid JSON.
    case invalidJSON = "invalid_json"
    /// Valid JSON, but an array, string, number, boolean or null instead of an object.
    case notAnObject = "not_an_object"
    /// A required field is absent.
    case missingField = "missing_field"
    /// A field has the wrong JSON type (an id that is not a string, a quantity that is not an integer).
    case wrongType = "wrong_type"
    /// A value outside its listed set (tier, method, gateway, resource, …) or format (E.164, zone).
    case invalidValue = "invalid_value"
    /// A value outside its stated range (quantity < 1, amount < 0, 0 or > 500 items, ids over 128 chars).
    case outOfRange = "out_of_range"
    /// `event_type` is not in the catalog.
    case unknownEventType = "unknown_event_type"
    /// `version` is not `1.x`.
    case unsupportedVersion = "unsupported_version"
    /// Money with more than 2 decimals, negative, or not a plain decimal.
    case invalidMoney = "invalid_money"
    /// `subtotal` ≠ Σ quantity × unit_price.
    case subtotalMismatch = "subtotal_mismatch"
    /// `total_amount` ≠ subtotal + delivery_fee + tax − discount.
    case totalMismatch = "total_mismatch"
    /// Latitude outside ±90 or longitude outside ±180.
    case invalidCoordinates = "invalid_coordinates"
    /// A timestamp that does not parse as RFC 3339.
    case invalidTimestamp = "invalid_timestamp"
    /// Older than watermark − allowed lateness (CONTRACT §2).
    case lateEvent = "late_event"
    /// Event time more than `max_future` ahead of the record's own clock (the Kafka record
    /// timestamp, or the partition's established watermark in a file): never moves a watermark.
    case futureTimestamp = "future_timestamp"
}

/// A rejected record's reason and a human-readable detail naming the field.
public struct Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: RejectReason
    public var detail: String
    public init(_ reason: RejectReason, _ detail: String) { self.reason = reason; self.detail = detail }
    public var description: String { "\(reason.rawValue): \(detail)" }
}

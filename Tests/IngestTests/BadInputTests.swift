import Foundation
import Testing
@testable import Domain
@testable import Ingest

/// One case per bad-input rule of CONTRACT §1: the record, the reason it must get, and a word
/// its detail must contain (the field it names).
struct BadCase: CustomTestStringConvertible, Sendable {
    var name: String
    var record: [UInt8]
    var reason: RejectReason
    var detailMentions: String
    var testDescription: String { name }

    init(_ name: String, _ record: String, _ reason: RejectReason, _ mentions: String = "") {
        self.name = name; self.record = Array(record.utf8); self.reason = reason; self.detailMentions = mentions
    }
    init(_ name: String, bytes: [UInt8], _ reason: RejectReason, _ mentions: String = "") {
        self.name = name; self.record = bytes; self.reason = reason; self.detailMentions = mentions
    }
}

func order(_ replace: String, with: String) -> String {
    Samples.envelope("order.created", Samples.order.replacingOccurrences(of: replace, with: with))
}

let orderRecord = Samples.envelope("order.created", Samples.order)

let badCases: [BadCase] = [
    // Not a JSON object.
    BadCase("invalid JSON", #"{"event_id": "e", "#, .invalidJSON),
    BadCase("trailing comma", #"{"event_id":"e",}"#, .invalidJSON),
    BadCase("single quotes", #"{'event_id':'e'}"#, .invalidJSON),
    BadCase("two objects", orderRecord + orderRecord, .invalidJSON),
    BadCase("broken after a semantic error", #"{"event_type":"nope","x":tru}"#, .invalidJSON),
    BadCase("empty", "", .invalidJSON),
    BadCase("an array", "[" + orderRecord + "]", .notAnObject, "array"),
    BadCase("a bare string", #""hello""#, .notAnObject, "string"),
    BadCase("a bare number", "42", .notAnObject, "number"),
    BadCase("null", "null", .notAnObject, "null"),
    BadCase("invalid UTF-8 in a string", bytes: Array(orderRecord.utf8.prefix(15)) + [0xC3, 0x28] + Array(orderRecord.utf8.dropFirst(15)), .invalidUTF8),
    BadCase("invalid UTF-8 outside strings", bytes: [0x7B, 0xFF, 0x7D], .invalidUTF8),
    BadCase("overlong UTF-8", bytes: Array(#"{"event_id":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8), .invalidUTF8),
    BadCase("lone surrogate escape", Samples.envelope("order.cancelled", #"{"order_id":"o","reason":"\ud800"}"#), .invalidUTF8),
    // Over 1 MiB.
    BadCase("over 1 MiB", Samples.envelope("order.cancelled", #"{"order_id":"o","reason":"\#(String(repeating: "x", count: 1 << 20))"}"#), .tooLarge),
    // Missing required fields.
    BadCase("missing event_id", orderRecord.replacingOccurrences(of: #""event_id":"evt-1","#, with: ""), .missingField, "event_id"),
    BadCase("missing timestamp", orderRecord.replacingOccurrences(of: #""timestamp":"2026-03-01T10:00:00+02:00","#, with: ""), .missingField, "timestamp"),
    BadCase("missing tenant_id", orderRecord.replacingOccurrences(of: #""tenant_id":"t-1","#, with: ""), .missingField, "tenant_id"),
    BadCase("missing event_type", orderRecord.replacingOccurrences(of: #""event_type":"order.created","#, with: ""), .missingField, "event_type"),
    BadCase("missing version", orderRecord.replacingOccurrences(of: #""version":"1.0","#, with: ""), .missingField, "version"),
    BadCase("missing data", #"{"event_id":"e","event_type":"order.completed","version":"1.0","timestamp":"2026-03-01T10:00:00Z","tenant_id":"t"}"#, .missingField, "data"),
    BadCase("missing data field", order(#""customer_id":"c-1","#, with: ""), .missingField, "data.customer_id"),
    BadCase("missing item field", order(#""quantity":1,"#, with: ""), .missingField, "data.items[1].quantity"),
    BadCase("missing lat", Samples.envelope("driver.location_updated", #"{"driver_id":"d","lng":27.8}"#), .missingField, "lat"),
    // Wrong types.
    BadCase("numeric event_id", orderRecord.replacingOccurrences(of: #""event_id":"evt-1""#, with: #""event_id":17"#), .wrongType, "event_id"),
    BadCase("numeric order_id", order(#""order_id":"o-1""#, with: #""order_id":1"#), .wrongType, "data.order_id"),
    BadCase("fractional quantity", order(#""quantity":2"#, with: #""quantity":2.5"#), .wrongType, "data.items[0].quantity"),
    BadCase("string quantity", order(#""quantity":2"#, with: #""quantity":"2""#), .wrongType, "quantity"),
    BadCase("items not an array", order(#""items":["#, with: #""items":{"a":["#).replacingOccurrences(of: #""}],"subtotal""#, with: #""}]},"subtotal""#), .wrongType, "items"),
    BadCase("data not an object", Samples.envelope("order.completed", "[]"), .wrongType, "data"),
    BadCase("string latitude", Samples.envelope("driver.location_updated", #"{"driver_id":"d","lat":"-26.2","lng":27.8}"#), .wrongType, "lat"),
    BadCase("boolean money", order(#""tax":0"#, with: #""tax":false"#), .wrongType, "tax"),
    BadCase("numeric version", orderRecord.replacingOccurrences(of: #""version":"1.0""#, with: #""version":1.0"#), .wrongType, "version"),
    // Values outside their listed set.
    BadCase("tier", Samples.envelope("tenant.created", #"{"name":"S","tier":"gold"}"#), .invalidValue, "tier"),
    BadCase("order payment method", order(#""payment_method":"card""#, with: #""payment_method":"bitcoin""#), .invalidValue, "payment_method"),
    BadCase("payment method", Samples.envelope("payment.initiated", #"{"payment_id":"p","order_id":"o","amount":1,"method":"cheque","gateway":"ozow"}"#), .invalidValue, "method"),
    BadCase("gateway", Samples.envelope("payment.initiated", #"{"payment_id":"p","order_id":"o","amount":1,"method":"card","gateway":"stripe"}"#), .invalidValue, "gateway"),
    BadCase("usage resource", Samples.envelope("usage.recorded", #"{"resource":"orders","amount":1}"#), .invalidValue, "resource"),
    BadCase("message type", Samples.envelope("whatsapp.message.received", #"{"message_id":"m","from":"+27821234567","type":"voice","content":{},"received_at":"2026-03-01T07:59:59Z"}"#), .invalidValue, "type"),
    BadCase("E.164", Samples.envelope("whatsapp.message.received", #"{"message_id":"m","from":"0821234567","type":"text","content":{},"received_at":"2026-03-01T07:59:59Z"}"#), .invalidValue, "from"),
    BadCase("timezone", Samples.envelope("tenant.created", #"{"name":"S","tier":"basic","timezone":"Africa/Soweto"}"#), .invalidValue, "timezone"),
    BadCase("actor type", orderRecord.replacingOccurrences(of: #""type":"user""#, with: #""type":"robot""#), .invalidValue, "actor.type"),
    BadCase("channel", Samples.envelope("notification.sent", #"{"notification_id":"n","recipient":"x","channel":"pigeon","template":"t"}"#), .invalidValue, "channel"),
    // U+0000: valid JSON and UTF-8, but no Postgres text column can store it (issue 27, 1).
    BadCase("NUL in an item name", order(#""name":"Kota""#, with: #""name":"Braai\u0000pack""#), .invalidValue, "U+0000"),
    BadCase("NUL in customer_id", order(#""customer_id":"c-1""#, with: #""customer_id":"c\u00001""#), .invalidValue, "U+0000"),
    BadCase("NUL in an ignored field", orderRecord.replacingOccurrences(of: #""tenant_id":"t-1","#, with: #""tenant_id":"t-1","note":"\u0000","#), .invalidValue, "U+0000"),
    BadCase("NUL in a key", orderRecord.replacingOccurrences(of: #""tenant_id":"t-1","#, with: #""tenant_id":"t-1","n\u0000":1,"#), .invalidValue, "U+0000"),
    BadCase("NUL in metadata", orderRecord.replacingOccurrences(of: #""tenant_id":"t-1","#, with: #""tenant_id":"t-1","metadata":{"source":"x\u0000"},"#), .invalidValue, "U+0000"),
    // Outside a stated range.
    BadCase("quantity 0", order(#""quantity":1,"#, with: #""quantity":0,"#), .outOfRange, "data.items[1].quantity"),
    BadCase("negative quantity", order(#""quantity":2"#, with: #""quantity":-2"#), .outOfRange, "quantity"),
    BadCase("no items", Samples.envelope("order.created", #"{"order_id":"o","customer_id":"c","items":[],"subtotal":0,"delivery_fee":0,"tax":0,"discount":0,"total_amount":0,"payment_method":"cash"}"#), .outOfRange, "items"),
    BadCase("501 items", Samples.envelope("order.created", #"{"order_id":"o","customer_id":"c","items":[\#(Array(repeating: #"{"product_id":"p","quantity":1,"unit_price":1}"#, count: 501).joined(separator: ","))],"subtotal":501,"delivery_fee":0,"tax":0,"discount":0,"total_amount":501,"payment_method":"cash"}"#), .outOfRange, "500"),
    BadCase("negative usage amount", Samples.envelope("usage.recorded", #"{"resource":"api_calls","amount":-1}"#), .outOfRange, "amount"),
    BadCase("id over 128 chars", orderRecord.replacingOccurrences(of: #""tenant_id":"t-1""#, with: #""tenant_id":"\#(String(repeating: "t", count: 129))""#), .outOfRange, "tenant_id"),
    BadCase("empty id", order(#""order_id":"o-1""#, with: #""order_id":"""#), .outOfRange, "order_id"),
    // Catalog and version.
    BadCase("unknown event type", Samples.envelope("order.teleported", #"{"order_id":"o"}"#), .unknownEventType, "order.teleported"),
    BadCase("version 2", orderRecord.replacingOccurrences(of: #""version":"1.0""#, with: #""version":"2.0""#), .unsupportedVersion, "2.0"),
    BadCase("version garbage", orderRecord.replacingOccurrences(of: #""version":"1.0""#, with: #""version":"one""#), .unsupportedVersion, "one"),
    // Money.
    BadCase("three decimals", order(#""unit_price":35.5"#, with: #""unit_price":35.555"#), .invalidMoney, "unit_price"),
    BadCase("three decimals as a string", order(#""subtotal":"88.99""#, with: #""subtotal":"88.990""#), .invalidMoney, "subtotal"),
    BadCase("negative money", Samples.envelope("payment.refunded", #"{"payment_id":"p","order_id":"o","amount":-5}"#), .invalidMoney, "amount"),
    BadCase("exponent money", Samples.envelope("payment.refunded", #"{"payment_id":"p","order_id":"o","amount":1e2}"#), .invalidMoney, "amount"),
    BadCase("money text", Samples.envelope("payment.refunded", #"{"payment_id":"p","order_id":"o","amount":"R50"}"#), .invalidMoney, "amount"),
    // Sums.
    BadCase("subtotal mismatch", order(#""subtotal":"88.99""#, with: #""subtotal":"89.00""#), .subtotalMismatch, "88.99"),
    BadCase("total mismatch", order(#""total_amount":100"#, with: #""total_amount":100.01"#), .totalMismatch, "100.00"),
    BadCase("money over the limit", order(#""quantity":2,"unit_price":35.5"#, with: #""quantity":1000000,"unit_price":"999999999999999.99""#), .invalidMoney, "unit_price"),
    BadCase("largest line total", order(#""quantity":2,"unit_price":35.5"#, with: #""quantity":1000000,"unit_price":"999999999.99""#), .subtotalMismatch),
    BadCase("usage amount beyond its arithmetic", Samples.envelope("usage.recorded", #"{"resource":"api_calls","amount":9223372036854775808}"#), .outOfRange, "amount"),
    BadCase("integer -2^63", Samples.envelope("inventory.updated", #"{"product_id":"p","vendor_id":"v","old_quantity":-9223372036854775808,"new_quantity":1,"reason":"r"}"#), .outOfRange, "old_quantity"),
    BadCase("integer 2^63", Samples.envelope("inventory.updated", #"{"product_id":"p","vendor_id":"v","old_quantity":9223372036854775808,"new_quantity":1,"reason":"r"}"#), .outOfRange, "old_quantity"),
    BadCase("usage amount 1e400", Samples.envelope("usage.recorded", #"{"resource":"api_calls","amount":1e400}"#), .outOfRange, "amount"),
    // Coordinates.
    BadCase("latitude over 90", Samples.envelope("driver.location_updated", #"{"driver_id":"d","lat":90.5,"lng":27.8}"#), .invalidCoordinates),
    BadCase("longitude under -180", Samples.envelope("delivery.assigned", #"{"delivery_id":"d","order_id":"o","driver_id":"r","pickup":{"lat":0,"lng":-181},"dropoff":{"lat":0,"lng":0}}"#), .invalidCoordinates, "pickup"),
    // Timestamps.
    BadCase("unparseable timestamp", orderRecord.replacingOccurrences(of: "2026-03-01T10:00:00+02:00", with: "01/03/2026 10:00"), .invalidTimestamp, "timestamp"),
    BadCase("no offset", orderRecord.replacingOccurrences(of: "2026-03-01T10:00:00+02:00", with: "2026-03-01T10:00:00"), .invalidTimestamp),
    BadCase("impossible date", orderRecord.replacingOccurrences(of: "2026-03-01T10:00:00+02:00", with: "2026-02-30T10:00:00Z"), .invalidTimestamp),
    BadCase("bad received_at", Samples.envelope("whatsapp.message.received", #"{"message_id":"m","from":"+27821234567","type":"text","content":{},"received_at":"now"}"#), .invalidTimestamp, "received_at"),
]

@Suite struct BadInputTests {
    @Test(arguments: badCases)
    func rejectsWithReason(_ c: BadCase) {
        switch EventDecoder().decode(c.record) {
        case .success(let e):
            Issue.record("accepted \(e.type) but expected \(c.reason.rawValue)")
        case .failure(let r):
            #expect(r.reason == c.reason, "\(r.detail)")
            #expect(c.detailMentions.isEmpty || r.detail.contains(c.detailMentions), "detail: \(r.detail)")
            #expect(!r.detail.isEmpty)
        }
    }

    @Test func everyInputReasonIsCovered() {
        let covered = Set(badCases.map(\.reason))
        let input = Set(RejectReason.allCases).subtracting([.lateEvent, .futureTimestamp]) // the watermark's and the record clock's, not the decoder's
        #expect(input.subtracting(covered).isEmpty, "uncovered: \(input.subtracting(covered))")
    }

    @Test func theOriginalIsUntouched() {
        // The decoder reads without modifying: the dead-letter output gets the bytes as they came.
        var bytes = Array(order(#""tax":0"#, with: #""tax":-1"#).utf8)
        let copy = bytes
        _ = bytes.withUnsafeMutableBytes { EventDecoder().decode(UnsafeRawBufferPointer($0)) }
        #expect(bytes == copy)
    }
}

import Crypto
import Domain
import Foundation
import Ingest

/// What one webhook turns into: records for Kafka (events and dead letters) and what was only
/// counted. Pure: no I/O, so the translation is tested without a server.
public struct WebhookOutcome: Sendable {
    public var records: [OutboundRecord] = []
    public var events = 0
    public var deadLetters = 0
    /// Acknowledged and counted, not produced (delivery statuses, other Paystack events).
    public var ignored: [String: Int] = [:]
}

/// A signed body that is not what the sender's API sends: 400.
public struct MalformedWebhook: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// Signature checks in constant time (swift-crypto's `isValidAuthenticationCode`).
public enum Signatures {
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`.
    public static func whatsapp(_ header: String?, body: [UInt8], secret: [UInt8]) -> Bool {
        guard let header, header.hasPrefix("sha256="), let mac = hex(header.dropFirst(7)), mac.count == 32 else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: SymmetricKey(data: secret))
    }

    /// `x-paystack-signature: <hex HMAC-SHA512 of the raw body with the secret key>`.
    public static func paystack(_ header: String?, body: [UInt8], secret: [UInt8]) -> Bool {
        guard let header, let mac = hex(Substring(header)), mac.count == 64 else { return false }
        return HMAC<SHA512>.isValidAuthenticationCode(mac, authenticating: body, using: SymmetricKey(data: secret))
    }

    /// The signature a sender would put in the header (tests, benchmarks).
    public static func sign256(_ body: [UInt8], secret: [UInt8]) -> String {
        "sha256=" + HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret)).map { String(format: "%02x", $0) }.joined()
    }
    public static func sign512(_ body: [UInt8], secret: [UInt8]) -> String {
        HMAC<SHA512>.authenticationCode(for: body, using: SymmetricKey(data: secret)).map { String(format: "%02x", $0) }.joined()
    }

    static func hex(_ s: Substring) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: u.count / 2)
        for i in 0..<out.count {
            guard let hi = nibble(u[2 * i]), let lo = nibble(u[2 * i + 1]) else { return nil }
            out[i] = hi << 4 | lo
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}

/// Webhooks → contract events (CONTRACT §1): deterministic event ids (senders re-deliver; the
/// pipeline's dedupe drops the copies), event time from the sender's own timestamps.
public struct WebhookTranslator: Sendable {
    /// WhatsApp `phone_number_id` → tenant.
    public var tenants: [String: String]
    public var inboundTopic = Topics.whatsappInbound
    public var paymentsTopic = Topics.payments
    public var deadLetterTopic = Topics.deadLetters

    public init(tenants: [String: String]) { self.tenants = tenants }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds since the epoch (``RFC3339``'s range).
    static let earliestSeconds: Int64 = RFC3339.earliest / 1000, latestSeconds: Int64 = RFC3339.latest / 1000

    static func id(_ prefix: String, _ parts: String...) -> String {
        let digest = SHA256.hash(data: Array(parts.joined(separator: "\u{1F}").utf8))
        return prefix + digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    func deadLetter(_ body: [UInt8], reason: String, detail: String, source: String, key: String) -> OutboundRecord {
        OutboundRecord(topic: deadLetterTopic, key: key, value: body,
                       headers: [("reason", Array(reason.utf8)), ("detail", Array(detail.utf8)), ("source", Array(source.utf8))])
    }

    static func json(_ v: Any) -> [UInt8] {
        (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .withoutEscapingSlashes])).map { Array($0) } ?? Array("{}".utf8)
    }

    /// A WhatsApp Cloud API webhook: one `whatsapp.message.received` per message of every change
    /// of every entry; statuses counted; unknown numbers and message types dead-lettered.
    public func whatsapp(_ body: [UInt8]) throws -> WebhookOutcome {
        guard let root = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw MalformedWebhook("the body is not a JSON object")
        }
        guard let entries = root["entry"] as? [[String: Any]] else { throw MalformedWebhook("entry[] is missing") }
        var out = WebhookOutcome()
        for entry in entries {
            guard let changes = entry["changes"] as? [[String: Any]] else { throw MalformedWebhook("entry[].changes[] is missing") }
            for change in changes {
                guard let value = change["value"] as? [String: Any] else { throw MalformedWebhook("entry[].changes[].value is missing") }
                if let statuses = value["statuses"] as? [Any] { out.ignored["status", default: 0] += statuses.count }
                guard let messages = value["messages"] as? [[String: Any]] else { continue }
                let phoneID = (value["metadata"] as? [String: Any])?["phone_number_id"] as? String
                for m in messages {
                    guard let wamid = m["id"] as? String, let from = m["from"] as? String, let type = m["type"] as? String,
                          let ts = (m["timestamp"] as? String).flatMap({ Int64($0) }) ?? (m["timestamp"] as? Int64) else {
                        throw MalformedWebhook("a message needs id, from, type and timestamp")
                    }
                    guard let phoneID, let tenant = tenants[phoneID] else {
                        out.records.append(deadLetter(body, reason: "unknown_phone_number",
                                                      detail: "phone_number_id \(phoneID ?? "(none)") is not in the tenants file (message \(wamid))",
                                                      source: "webhook:whatsapp", key: phoneID ?? ""))
                        out.deadLetters += 1
                        continue
                    }
                    guard let kind = MessageType(rawValue: type), let content = Self.content(kind, m) else {
                        out.records.append(deadLetter(body, reason: "unsupported_message_type",
                                                      detail: "message \(wamid) of type \(type): the contract takes text, image, interactive and location",
                                                      source: "webhook:whatsapp", key: tenant))
                        out.deadLetters += 1
                        continue
                    }
                    // Seconds since the epoch from outside: range-checked before any arithmetic
                    // (years 0000–9999, what RFC 3339 can write), else a dead letter — a trap here
                    // would take the gateway down at every re-delivery.
                    guard (Self.earliestSeconds...Self.latestSeconds).contains(ts) else {
                        out.records.append(deadLetter(body, reason: RejectReason.invalidTimestamp.rawValue,
                                                      detail: "message \(wamid): timestamp \(ts) is outside years 0001–9999",
                                                      source: "webhook:whatsapp", key: tenant))
                        out.deadLetters += 1
                        continue
                    }
                    let at = RFC3339.format(ts * 1000)
                    var w = JSONWriter()
                    w.beginObject()
                    w.field("event_id", Self.id("wa-", wamid))
                    w.field("event_type", EventType.whatsappMessageReceived.rawValue)
                    w.field("version", "1.0")
                    w.field("timestamp", at)
                    w.field("tenant_id", tenant)
                    w.field("correlation_id", wamid)
                    w.beginObject("actor"); w.field("type", "user"); w.field("id", "+" + from); w.endObject()
                    w.beginObject("data")
                    w.field("message_id", wamid)
                    w.field("from", from.hasPrefix("+") ? from : "+" + from)
                    w.field("type", kind.rawValue)
                    w.raw("content", json: content)
                    w.field("received_at", at)
                    w.endObject()
                    w.beginObject("metadata"); w.field("source", "whatsapp-webhook"); w.field("phone_number_id", phoneID); w.endObject()
                    w.endObject()
                    out.records.append(OutboundRecord(topic: inboundTopic, key: tenant, value: w.bytes))
                    out.events += 1
                }
            }
        }
        return out
    }

    /// A JSON value as whole non-negative cents below 2^53, or nil (booleans, strings, fractions,
    /// negatives, non-finite or inexact numbers).
    static func cents(_ v: Any) -> Int64? {
        // JSON booleans come back as NSNumber too (and on Linux `1 is Bool` holds): their
        // objCType is "c", a number's never is.
        guard let n = v as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        let d = n.doubleValue
        guard d.isFinite, d >= 0, d < 9_007_199_254_740_992, d == d.rounded(.towardZero) else { return nil }
        return Int64(d)
    }

    static func shown(_ v: Any) -> String {
        let s = v is String ? "\"\(v)\"" : "\(v)"
        return s.count > 64 ? String(s.prefix(64)) + "…" : s
    }

    /// The message's content object: the Cloud API's own object for its type (`text`, `image`,
    /// `interactive`, `location`), nil when missing.
    static func content(_ kind: MessageType, _ m: [String: Any]) -> [UInt8]? {
        switch kind {
        case .text:
            guard let t = m["text"] as? [String: Any] else { return nil }
            return json(t)
        case .image:
            guard let i = m["image"] as? [String: Any] else { return nil }
            return json(i)
        case .interactive:
            guard let i = m["interactive"] as? [String: Any] else { return nil }
            return json(i)
        case .location:
            guard let l = m["location"] as? [String: Any], l["latitude"] is NSNumber, l["longitude"] is NSNumber else { return nil }
            return json(l)
        }
    }

    /// A Paystack webhook: `charge.success` → `payment.succeeded`, `refund.processed` →
    /// `payment.refunded`; other events counted. Tenant and order from the charge's metadata.
    public func paystack(_ body: [UInt8]) throws -> WebhookOutcome {
        guard let root = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let event = root["event"] as? String, let data = root["data"] as? [String: Any] else {
            throw MalformedWebhook("the body is not a Paystack event ({\"event\", \"data\"})")
        }
        var out = WebhookOutcome()
        let type: EventType
        switch event {
        case "charge.success": type = .paymentSucceeded
        case "refund.processed": type = .paymentRefunded
        default:
            out.ignored[event, default: 0] += 1
            return out
        }
        let metadata = (data["metadata"] as? [String: Any]) ?? ((data["transaction"] as? [String: Any])?["metadata"] as? [String: Any]) ?? [:]
        let reference = (data["reference"] as? String) ?? (data["transaction_reference"] as? String)
            ?? ((data["transaction"] as? [String: Any])?["reference"] as? String)
        // Paystack amounts are integers in the currency's subunit (cents). Anything else — a
        // fraction, a negative, a string, a number past 2^53 (no longer exact as JSON's double) —
        // is not truncated into some other valid payment: it is dead-lettered.
        if let raw = data["amount"], Self.cents(raw) == nil {
            out.records.append(deadLetter(body, reason: RejectReason.invalidMoney.rawValue,
                                          detail: "\(event): data.amount must be a non-negative integer number of cents, got \(Self.shown(raw))",
                                          source: "webhook:paystack", key: metadata["tenant_id"] as? String ?? ""))
            out.deadLetters += 1
            return out
        }
        let amount = data["amount"].flatMap(Self.cents)
        guard let tenant = metadata["tenant_id"] as? String, let order = metadata["order_id"] as? String, let reference,
              let amount else {
            out.records.append(deadLetter(body, reason: "missing_payment_fields",
                                          detail: "\(event) needs data.reference, data.amount and metadata.tenant_id and metadata.order_id",
                                          source: "webhook:paystack", key: metadata["tenant_id"] as? String ?? ""))
            out.deadLetters += 1
            return out
        }
        let idValue = data["id"].map { "\($0)" } ?? reference
        // Event time: when it was paid (or refunded), else the event's own creation time.
        let timeText = (data["paid_at"] as? String) ?? (data["refunded_at"] as? String) ?? (data["updated_at"] as? String)
            ?? (data["created_at"] as? String) ?? (data["createdAt"] as? String)
        guard let t = timeText.flatMap(RFC3339.parse) else {
            out.records.append(deadLetter(body, reason: "missing_payment_fields", detail: "\(event) has no paid_at/created_at time",
                                          source: "webhook:paystack", key: tenant))
            out.deadLetters += 1
            return out
        }
        var w = JSONWriter()
        w.beginObject()
        w.field("event_id", Self.id("ps-", event, reference, idValue))
        w.field("event_type", type.rawValue)
        w.field("version", "1.0")
        w.field("timestamp", RFC3339.format(t))
        w.field("tenant_id", tenant)
        w.field("correlation_id", reference)
        w.beginObject("actor"); w.field("type", "service"); w.field("id", "paystack"); w.endObject()
        w.beginObject("data")
        w.field("payment_id", reference)
        w.field("order_id", order)
        w.money("amount", Money(cents: amount), asString: true)
        if type == .paymentSucceeded { w.field("transaction_id", idValue) }
        w.endObject()
        w.beginObject("metadata"); w.field("source", "paystack-webhook"); w.endObject()
        w.endObject()
        out.records.append(OutboundRecord(topic: paymentsTopic, key: tenant, value: w.bytes))
        out.events += 1
        return out
    }
}

import Domain

/// The `data` object of each catalog event type (CONTRACT §1 catalog).
extension EventDecoder {
    static func parseData(_ type: EventType, _ r: inout FieldReader) throws(Rejection) -> Payload {
        try r.enterObject("data")
        r.prefix = "data"
        r.index = nil
        defer { r.prefix = ""; r.index = nil }
        switch type {
        case .tenantCreated: return .tenantCreated(try tenantCreated(&r))
        case .tenantTierChanged: return .tenantTierChanged(try tierChanged(&r))
        case .whatsappMessageReceived: return .whatsappMessageReceived(try whatsapp(&r))
        case .orderCreated: return .orderCreated(try orderCreated(&r))
        case .orderConfirmed:
            let (o, v) = try orderAnd(&r, "vendor_id", required: true)
            return .orderConfirmed(OrderConfirmed(orderID: o, vendorID: v!))
        case .orderProcessingStarted: return .orderProcessingStarted(orderID: try orderAnd(&r, nil, required: false).0)
        case .orderReadyForPickup: return .orderReadyForPickup(orderID: try orderAnd(&r, nil, required: false).0)
        case .orderPickedUp:
            let (o, d) = try orderAnd(&r, "delivery_id", required: true)
            return .orderPickedUp(OrderPickedUp(orderID: o, deliveryID: d!))
        case .orderCompleted:
            let (o, d) = try orderAnd(&r, "delivery_id", required: false)
            return .orderCompleted(OrderCompleted(orderID: o, deliveryID: d))
        case .orderCancelled: return .orderCancelled(try orderCancelled(&r))
        case .paymentInitiated, .paymentSucceeded, .paymentFailed, .paymentRefunded:
            return try payment(type, &r)
        case .deliveryAssigned: return .deliveryAssigned(try deliveryAssigned(&r))
        case .deliveryPickedUp, .deliveryCompleted, .deliveryCancelled: return try delivery(type, &r)
        case .driverLocationUpdated: return .driverLocationUpdated(try driverLocation(&r))
        case .usageRecorded: return .usageRecorded(try usage(&r))
        case .inventoryUpdated: return .inventoryUpdated(try inventory(&r))
        case .notificationSent: return .notificationSent(try notification(&r))
        }
    }

    static func tenantCreated(_ r: inout FieldReader) throws(Rejection) -> TenantCreated {
        var name: String?, tier: Tier?, tz: String?, currency: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "name") { name = try r.text("name") }
            else if r.cur.key(k, is: "tier") { tier = try r.oneOf("tier", Tables.tier) }
            else if r.cur.key(k, is: "timezone") {
                tz = try r.optionalText("timezone")
                if let z = tz, TenantZone(identifier: z) == nil {
                    throw Rejection(.invalidValue, "\(r.path("timezone")) \"\(z)\" is not an IANA timezone")
                }
            } else if r.cur.key(k, is: "currency") {
                currency = try r.optionalText("currency")
                if let c = currency, c.utf8.count != 3 || !c.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) {
                    throw Rejection(.invalidValue, "\(r.path("currency")) must be an ISO 4217 code, got \"\(c)\"")
                }
            } else { try r.cur.skipValue() }
        }
        guard let name else { throw r.missing("name") }
        guard let tier else { throw r.missing("tier") }
        return TenantCreated(name: name, tier: tier, timezone: tz ?? TenantZone.defaultIdentifier, currency: currency ?? "ZAR")
    }

    static func tierChanged(_ r: inout FieldReader) throws(Rejection) -> TenantTierChanged {
        var tier: Tier?, prev: Tier?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "tier") { tier = try r.oneOf("tier", Tables.tier) }
            else if r.cur.key(k, is: "previous_tier") { prev = try r.oneOf("previous_tier", Tables.tier) }
            else { try r.cur.skipValue() }
        }
        guard let tier else { throw r.missing("tier") }
        guard let prev else { throw r.missing("previous_tier") }
        return TenantTierChanged(tier: tier, previousTier: prev)
    }

    /// E.164: `+`, then 2–15 digits, the first not 0.
    static func isE164(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count >= 3, u.count <= 16, u[0] == UInt8(ascii: "+"), u[1] != UInt8(ascii: "0") else { return false }
        return u.dropFirst().allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    static func whatsapp(_ r: inout FieldReader) throws(Rejection) -> WhatsAppMessageReceived {
        var mid: String?, from: String?, type: MessageType?, at: EpochMillis?, content = false
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "message_id") { mid = try r.id("message_id") }
            else if r.cur.key(k, is: "from") {
                let f = try r.text("from")
                guard isE164(f) else { throw Rejection(.invalidValue, "\(r.path("from")) must be an E.164 number, got \"\(f)\"") }
                from = f
            }
            else if r.cur.key(k, is: "type") { type = try r.oneOf("type", Tables.messageType) }
            else if r.cur.key(k, is: "received_at") { at = try r.timestamp("received_at") }
            else if r.cur.key(k, is: "content") {
                let kind = try r.cur.peekKind()
                guard kind == .object else { throw r.wrongType("content", "an object", kind) }
                try r.cur.skipValue()
                content = true
            }
            else { try r.cur.skipValue() }
        }
        guard let mid else { throw r.missing("message_id") }
        guard let from else { throw r.missing("from") }
        guard let type else { throw r.missing("type") }
        guard content else { throw r.missing("content") }
        guard let at else { throw r.missing("received_at") }
        return WhatsAppMessageReceived(messageID: mid, from: from, type: type, receivedAt: at)
    }

    static func orderCreated(_ r: inout FieldReader) throws(Rejection) -> OrderCreated {
        var oid: String?, cid: String?, items: [OrderItem]?
        var subtotal: Money?, fee: Money?, tax: Money?, discount: Money?, total: Money?
        var method: OrderPaymentMethod?, source: OrderSource?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            let c = r.cur
            if c.key(k, is: "order_id") { oid = try r.id("order_id") }
            else if c.key(k, is: "customer_id") { cid = try r.id("customer_id") }
            else if c.key(k, is: "items") { items = try orderItems(&r) }
            else if c.key(k, is: "subtotal") { subtotal = try r.money("subtotal") }
            else if c.key(k, is: "delivery_fee") { fee = try r.money("delivery_fee") }
            else if c.key(k, is: "tax") { tax = try r.money("tax") }
            else if c.key(k, is: "discount") { discount = try r.money("discount") }
            else if c.key(k, is: "total_amount") { total = try r.money("total_amount") }
            else if c.key(k, is: "payment_method") { method = try r.oneOf("payment_method", Tables.orderPaymentMethod) }
            else if c.key(k, is: "source") { source = try r.takeNull() ? nil : try r.oneOf("source", Tables.orderSource) }
            else { try r.cur.skipValue() }
        }
        guard let oid else { throw r.missing("order_id") }
        guard let cid else { throw r.missing("customer_id") }
        guard let items else { throw r.missing("items") }
        guard let subtotal else { throw r.missing("subtotal") }
        guard let fee else { throw r.missing("delivery_fee") }
        guard let tax else { throw r.missing("tax") }
        guard let discount else { throw r.missing("discount") }
        guard let total else { throw r.missing("total_amount") }
        guard let method else { throw r.missing("payment_method") }

        var sum: Int64 = 0
        var overflow = false
        for item in items {
            let (line, o1) = item.quantity.multipliedReportingOverflow(by: item.unitPrice.cents)
            let (s, o2) = sum.addingReportingOverflow(line)
            overflow = overflow || o1 || o2
            sum = s
        }
        guard !overflow, sum == subtotal.cents else {
            throw Rejection(.subtotalMismatch, "data.subtotal is \(subtotal) but Σ quantity × unit_price is \(overflow ? "too large" : Money(cents: sum).description)")
        }
        let expected = subtotal.cents + fee.cents + tax.cents - discount.cents
        guard expected == total.cents else {
            throw Rejection(.totalMismatch, "data.total_amount is \(total) but subtotal + delivery_fee + tax − discount is \(Money(cents: expected))")
        }
        return OrderCreated(orderID: oid, customerID: cid, items: items, subtotal: subtotal, deliveryFee: fee,
                            tax: tax, discount: discount, totalAmount: total, paymentMethod: method, source: source)
    }

    static func orderItems(_ r: inout FieldReader) throws(Rejection) -> [OrderItem] {
        let kind = try r.cur.peekKind()
        guard kind == .array else { throw r.wrongType("items", "an array", kind) }
        r.cur.i += 1
        var items: [OrderItem] = []
        items.reserveCapacity(4)
        var first = true
        r.prefix = "data.items"
        defer { r.prefix = "data"; r.index = nil }
        while try r.cur.nextElement(&first) {
            r.index = items.count
            guard items.count < maxItems else {
                throw Rejection(.outOfRange, "data.items holds more than \(maxItems) items")
            }
            let ek = try r.cur.peekKind()
            guard ek == .object else { throw Rejection(.wrongType, "data.items[\(items.count)] must be an object, got \(ek.name)") }
            r.cur.i += 1
            var pid: String?, name: String?, qty: Int64?, price: Money?, vid: String?
            var f = true
            while let k = try r.cur.nextKey(&f) {
                if r.cur.key(k, is: "product_id") { pid = try r.id("product_id") }
                else if r.cur.key(k, is: "quantity") { qty = try r.integer("quantity", 1...1_000_000) }
                else if r.cur.key(k, is: "unit_price") { price = try r.money("unit_price") }
                else if r.cur.key(k, is: "name") { name = try r.optionalText("name") }
                else if r.cur.key(k, is: "vendor_id") { vid = try r.optionalID("vendor_id") }
                else { try r.cur.skipValue() }
            }
            guard let pid else { throw r.missing("product_id") }
            guard let qty else { throw r.missing("quantity") }
            guard let price else { throw r.missing("unit_price") }
            items.append(OrderItem(productID: pid, name: name, quantity: qty, unitPrice: price, vendorID: vid))
        }
        r.index = nil
        guard !items.isEmpty else { throw Rejection(.outOfRange, "data.items must hold 1–\(maxItems) items, got 0") }
        return items
    }

    /// `order_id` plus at most one more id field (`vendor_id`, `delivery_id`).
    static func orderAnd(_ r: inout FieldReader, _ other: StaticString?, required: Bool) throws(Rejection) -> (String, String?) {
        var oid: String?, second: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "order_id") { oid = try r.id("order_id") }
            else if let other, r.cur.key(k, is: other) { second = required ? try r.id(other) : try r.optionalID(other) }
            else { try r.cur.skipValue() }
        }
        guard let oid else { throw r.missing("order_id") }
        if required, second == nil, let other { throw r.missing(other) }
        return (oid, second)
    }

    static func orderCancelled(_ r: inout FieldReader) throws(Rejection) -> OrderCancelled {
        var oid: String?, reason: String?, by: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "order_id") { oid = try r.id("order_id") }
            else if r.cur.key(k, is: "reason") { reason = try r.text("reason") }
            else if r.cur.key(k, is: "cancelled_by") { by = try r.optionalID("cancelled_by") }
            else { try r.cur.skipValue() }
        }
        guard let oid else { throw r.missing("order_id") }
        guard let reason else { throw r.missing("reason") }
        return OrderCancelled(orderID: oid, reason: reason, cancelledBy: by)
    }

    static func payment(_ type: EventType, _ r: inout FieldReader) throws(Rejection) -> Payload {
        var pid: String?, oid: String?, amount: Money?, method: PaymentMethod?, gateway: PaymentGateway?
        var tx: String?, code: String?, message: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            let c = r.cur
            if c.key(k, is: "payment_id") { pid = try r.id("payment_id") }
            else if c.key(k, is: "order_id") { oid = try r.id("order_id") }
            else if type != .paymentFailed, c.key(k, is: "amount") { amount = try r.money("amount") }
            else if type == .paymentInitiated, c.key(k, is: "method") { method = try r.oneOf("method", Tables.paymentMethod) }
            else if type == .paymentInitiated, c.key(k, is: "gateway") { gateway = try r.oneOf("gateway", Tables.gateway) }
            else if type == .paymentSucceeded, c.key(k, is: "transaction_id") { tx = try r.id("transaction_id") }
            else if type == .paymentFailed, c.key(k, is: "error_code") { code = try r.text("error_code") }
            else if type == .paymentFailed, c.key(k, is: "error_message") { message = try r.optionalText("error_message") }
            else { try r.cur.skipValue() }
        }
        guard let pid else { throw r.missing("payment_id") }
        guard let oid else { throw r.missing("order_id") }
        switch type {
        case .paymentInitiated:
            guard let amount else { throw r.missing("amount") }
            guard let method else { throw r.missing("method") }
            guard let gateway else { throw r.missing("gateway") }
            return .paymentInitiated(PaymentInitiated(paymentID: pid, orderID: oid, amount: amount, method: method, gateway: gateway))
        case .paymentSucceeded:
            guard let amount else { throw r.missing("amount") }
            guard let tx else { throw r.missing("transaction_id") }
            return .paymentSucceeded(PaymentSucceeded(paymentID: pid, orderID: oid, amount: amount, transactionID: tx))
        case .paymentFailed:
            guard let code else { throw r.missing("error_code") }
            return .paymentFailed(PaymentFailed(paymentID: pid, orderID: oid, errorCode: code, errorMessage: message))
        default:
            guard let amount else { throw r.missing("amount") }
            return .paymentRefunded(PaymentRefunded(paymentID: pid, orderID: oid, amount: amount))
        }
    }

    static func deliveryAssigned(_ r: inout FieldReader) throws(Rejection) -> DeliveryAssigned {
        var did: String?, oid: String?, drv: String?, pickup: GeoPoint?, dropoff: GeoPoint?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "delivery_id") { did = try r.id("delivery_id") }
            else if r.cur.key(k, is: "order_id") { oid = try r.id("order_id") }
            else if r.cur.key(k, is: "driver_id") { drv = try r.id("driver_id") }
            else if r.cur.key(k, is: "pickup") { pickup = try r.point("pickup") }
            else if r.cur.key(k, is: "dropoff") { dropoff = try r.point("dropoff") }
            else { try r.cur.skipValue() }
        }
        guard let did else { throw r.missing("delivery_id") }
        guard let oid else { throw r.missing("order_id") }
        guard let drv else { throw r.missing("driver_id") }
        guard let pickup else { throw r.missing("pickup") }
        guard let dropoff else { throw r.missing("dropoff") }
        return DeliveryAssigned(deliveryID: did, orderID: oid, driverID: drv, pickup: pickup, dropoff: dropoff)
    }

    static func delivery(_ type: EventType, _ r: inout FieldReader) throws(Rejection) -> Payload {
        var did: String?, drv: String?, signature: String?, photo: String?, reason: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "delivery_id") { did = try r.id("delivery_id") }
            else if type != .deliveryCancelled, r.cur.key(k, is: "driver_id") { drv = try r.id("driver_id") }
            else if type == .deliveryCompleted, r.cur.key(k, is: "signature") { signature = try r.optionalText("signature") }
            else if type == .deliveryCompleted, r.cur.key(k, is: "photo_url") { photo = try r.optionalText("photo_url") }
            else if type == .deliveryCancelled, r.cur.key(k, is: "reason") { reason = try r.optionalText("reason") }
            else { try r.cur.skipValue() }
        }
        guard let did else { throw r.missing("delivery_id") }
        if type == .deliveryCancelled { return .deliveryCancelled(DeliveryCancelled(deliveryID: did, reason: reason)) }
        guard let drv else { throw r.missing("driver_id") }
        if type == .deliveryPickedUp { return .deliveryPickedUp(DeliveryPickedUp(deliveryID: did, driverID: drv)) }
        return .deliveryCompleted(DeliveryCompleted(deliveryID: did, driverID: drv, signature: signature, photoURL: photo))
    }

    static func driverLocation(_ r: inout FieldReader) throws(Rejection) -> DriverLocationUpdated {
        var drv: String?, lat: Double?, lng: Double?, speed: Double?, heading: Double?, accuracy: Double?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "driver_id") { drv = try r.id("driver_id") }
            else if r.cur.key(k, is: "lat") { lat = try r.number("lat") }
            else if r.cur.key(k, is: "lng") { lng = try r.number("lng") }
            else if r.cur.key(k, is: "speed_mps") { speed = try r.optionalNumber("speed_mps") }
            else if r.cur.key(k, is: "heading") { heading = try r.optionalNumber("heading") }
            else if r.cur.key(k, is: "accuracy_m") { accuracy = try r.optionalNumber("accuracy_m") }
            else { try r.cur.skipValue() }
        }
        guard let drv else { throw r.missing("driver_id") }
        guard let lat else { throw r.missing("lat") }
        guard let lng else { throw r.missing("lng") }
        let p = GeoPoint(lat: lat, lng: lng)
        guard p.isValid else { throw Rejection(.invalidCoordinates, "data (\(lat), \(lng)) is outside ±90/±180") }
        if let s = speed, s < 0 { throw Rejection(.outOfRange, "data.speed_mps must be ≥ 0, got \(s)") }
        if let a = accuracy, a < 0 { throw Rejection(.outOfRange, "data.accuracy_m must be ≥ 0, got \(a)") }
        return DriverLocationUpdated(driverID: drv, location: p, speedMps: speed, heading: heading, accuracyM: accuracy)
    }

    /// The largest `usage.recorded` amount (10^9).
    static let maxUsageAmount = 1_000_000_000.0

    static func usage(_ r: inout FieldReader) throws(Rejection) -> UsageRecorded {
        var resource: QuotaResource?, amount: Double?, endpoint: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "resource") {
                resource = try r.oneOf("resource", Tables.usageResource)
            }
            else if r.cur.key(k, is: "amount") {
                let a = try r.number("amount")
                // Quotas keep amounts in thousandths (Int64) and sum an hour of them: a billion a
                // record keeps that exact and far from overflow.
                guard a >= 0, a <= Self.maxUsageAmount else {
                    throw Rejection(.outOfRange, "data.amount must be between 0 and \(Int(Self.maxUsageAmount)), got \(a)")
                }
                amount = a
            }
            else if r.cur.key(k, is: "endpoint") { endpoint = try r.optionalText("endpoint") }
            else { try r.cur.skipValue() }
        }
        guard let resource else { throw r.missing("resource") }
        guard let amount else { throw r.missing("amount") }
        return UsageRecorded(resource: resource, amount: amount, endpoint: endpoint)
    }

    static func inventory(_ r: inout FieldReader) throws(Rejection) -> InventoryUpdated {
        var pid: String?, vid: String?, old: Int64?, new: Int64?, reason: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "product_id") { pid = try r.id("product_id") }
            else if r.cur.key(k, is: "vendor_id") { vid = try r.id("vendor_id") }
            else if r.cur.key(k, is: "old_quantity") { old = try r.integer("old_quantity", 0...Int64(Int32.max)) }
            else if r.cur.key(k, is: "new_quantity") { new = try r.integer("new_quantity", 0...Int64(Int32.max)) }
            else if r.cur.key(k, is: "reason") { reason = try r.text("reason") }
            else { try r.cur.skipValue() }
        }
        guard let pid else { throw r.missing("product_id") }
        guard let vid else { throw r.missing("vendor_id") }
        guard let old else { throw r.missing("old_quantity") }
        guard let new else { throw r.missing("new_quantity") }
        guard let reason else { throw r.missing("reason") }
        return InventoryUpdated(productID: pid, vendorID: vid, oldQuantity: old, newQuantity: new, reason: reason)
    }

    static func notification(_ r: inout FieldReader) throws(Rejection) -> NotificationSent {
        var nid: String?, recipient: String?, channel: NotificationChannel?, template: String?
        var first = true
        while let k = try r.cur.nextKey(&first) {
            if r.cur.key(k, is: "notification_id") { nid = try r.id("notification_id") }
            else if r.cur.key(k, is: "recipient") { recipient = try r.text("recipient") }
            else if r.cur.key(k, is: "channel") { channel = try r.oneOf("channel", Tables.channel) }
            else if r.cur.key(k, is: "template") { template = try r.text("template") }
            else { try r.cur.skipValue() }
        }
        guard let nid else { throw r.missing("notification_id") }
        guard let recipient else { throw r.missing("recipient") }
        guard let channel else { throw r.missing("channel") }
        guard let template else { throw r.missing("template") }
        return NotificationSent(notificationID: nid, recipient: recipient, channel: channel, template: template)
    }
}

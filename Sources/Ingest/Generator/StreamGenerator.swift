import Domain

/// Generates a realistic township-commerce event stream (see `GeneratorConfig`).
///
/// Tenants of mixed tiers sell to customers who come back; orders run their whole lifecycle or
/// are cancelled; payments go through Paystack, Ozow, M-Pesa or cash, some fail and some are
/// retried; drivers drive plausible routes in Johannesburg and Nairobi townships and report their
/// location every few seconds; customers chat on WhatsApp; API usage comes in bursts that cross
/// tier quotas. Output is ordered by arrival time and is byte-for-byte deterministic per seed.
public struct StreamGenerator {
    public let config: GeneratorConfig
    private var rng: SplitMix64
    private var ids: IDMaker
    private var world: World
    private var buffer: [GeneratedRecord] = []
    private var seq = 0
    private var malformedKind = 0

    static let dayMs: Int64 = 86_400_000

    public init(_ config: GeneratorConfig) {
        self.config = config
        rng = SplitMix64(seed: config.seed)
        ids = IDMaker(seed: config.seed)
        world = World(tenants: config.tenants, customers: config.customers, rng: &rng, ids: &ids)
    }

    /// Generates the whole stream, handing records to `sink` in arrival order.
    /// Memory stays bounded: records are released a day at a time.
    public mutating func generate(_ sink: (GeneratedRecord) throws -> Void) rethrows {
        // Tenants register just before the stream starts.
        for (n, t) in world.tenants.enumerated() {
            let at = config.start - 3_600_000 + Int64(n) * 1000
            emit(.tenantCreated, at: at, tenant: t.id, correlation: nil, causation: nil, actor: ("system", "onboarding")) { w, rng in
                w.field("name", t.name)
                w.field("tier", t.tier.rawValue)
                if t.zone != TenantZone.defaultIdentifier || n % 2 == 0 { w.field("timezone", t.zone) }
                if n % 3 == 0 { w.field("currency", t.city == .nairobi ? "KES" : "ZAR") }
            }
        }
        for day in 0..<config.days {
            let dayStart = config.start + Int64(day) * Self.dayMs
            // Every tenant's day first, then all the day's orders in time order: drivers are shared,
            // so they must be dispatched chronologically (a driver is never in two places).
            var orders: [(at: EpochMillis, tenant: Int)] = []
            for ti in world.tenants.indices { orders += simulateDay(tenant: ti, dayStart: dayStart, day: day).map { ($0, ti) } }
            orders.sort { ($0.at, $0.tenant) < ($1.at, $1.tenant) }
            for o in orders { simulateOrder(tenant: o.tenant, at: o.at) }
            try flush(before: dayStart + Self.dayMs, sink)
        }
        try flush(before: .max, sink)
    }

    /// Generates the whole stream into an array (small streams and tests).
    public mutating func generateAll() -> [GeneratedRecord] {
        var out: [GeneratedRecord] = []
        generate { out.append($0) }
        return out
    }

    private mutating func flush(before limit: EpochMillis, _ sink: (GeneratedRecord) throws -> Void) rethrows {
        buffer.sort { ($0.arrival, $0.seq) < ($1.arrival, $1.seq) }
        let cut = buffer.firstIndex { $0.arrival >= limit } ?? buffer.count
        for r in buffer[..<cut] { try sink(r) }
        buffer.removeFirst(cut)
    }

    // MARK: emission

    private mutating func emit(_ type: EventType, at time: EpochMillis, tenant: String, correlation: String?,
                               causation: String?, actor: (String, String)?, key: String? = nil,
                               data: (inout JSONWriter, inout SplitMix64) -> Void) {
        if config.ordersOnly, type != .orderCreated, type != .tenantCreated, type != .tenantTierChanged { return }
        let eventID = ids.next("e-")
        var w = JSONWriter()
        w.beginObject()
        w.field("event_id", eventID)
        w.field("event_type", type.rawValue)
        w.field("version", rng.chance(0.9) ? "1.0" : "1.1")
        // Producers write their own local offset now and then: any offset must be accepted.
        w.field("timestamp", rng.chance(0.25) ? RFC3339.format(time, offsetSeconds: 7200) : RFC3339.format(time))
        w.field("tenant_id", tenant)
        w.field("correlation_id", correlation)
        if let causation { w.field("causation_id", causation) } else if rng.chance(0.3) { w.null("causation_id") }
        if let (kind, id) = actor {
            w.beginObject("actor"); w.field("type", kind); w.field("id", id); w.endObject()
        }
        w.beginObject("data"); data(&w, &rng); w.endObject()
        w.beginObject("metadata")
        w.field("source", Self.sourceService(type))
        w.field("priority", type == .driverLocationUpdated ? "low" : "normal")
        w.endObject()
        w.endObject()

        let arrival = time + (config.disorderMillis > 0 ? rng.int64(0...config.disorderMillis) : 0)
        let record = GeneratedRecord(topic: type.defaultTopic, key: key ?? tenant, value: w.bytes,
                                     eventTime: time, arrival: arrival, seq: nextSeq())
        buffer.append(record)
        if config.duplicates > 0, rng.chance(config.duplicates) {
            var dup = record
            dup.seq = nextSeq()
            dup.arrival = time + rng.int64(0...max(config.disorderMillis, 5000))
            buffer.append(dup)
        }
        if config.malformed > 0, rng.chance(config.malformed),
           let corrupted = Malformer.corrupt(record.value, kind: malformedKind, rng: &rng) {
            var bad = record
            bad.value = corrupted
            malformedKind += 1
            bad.seq = nextSeq()
            buffer.append(bad)
        }
    }

    private mutating func nextSeq() -> Int { seq += 1; return seq }

    static func sourceService(_ t: EventType) -> String {
        switch t.defaultTopic {
        case Topics.orders: return "order-service"
        case Topics.payments: return "payment-service"
        case Topics.deliveries, Topics.driverLocations: return "delivery-service"
        case Topics.whatsappInbound: return "whatsapp-service"
        case Topics.tenants: return "tenant-service"
        default: return "api-gateway"
        }
    }

    // MARK: a tenant's day

    /// A tenant's day without its orders; returns the times its orders are placed at.
    private mutating func simulateDay(tenant ti: Int, dayStart: EpochMillis, day: Int) -> [EpochMillis] {
        let t = world.tenants[ti]
        if let up = t.upgrade, up.day == day {
            let at = dayStart + 9 * 3_600_000 + rng.int64(0...3_600_000)
            emit(.tenantTierChanged, at: at, tenant: t.id, correlation: nil, causation: nil, actor: ("user", "admin-\(t.id)")) { w, rng in
                w.field("tier", up.tier.rawValue)
                w.field("previous_tier", t.tier.rawValue)
            }
            world.tenants[ti].tier = up.tier
        }
        simulateUsage(tenant: t, dayStart: dayStart, day: day)
        let expected = Double(config.ordersPerDay) * t.volume
        let count = max(0, Int(expected * rng.double(0.7...1.3)))
        var times: [EpochMillis] = []
        for _ in 0..<count { times.append(dayStart + orderTimeOfDay()) }
        // Chat that does not lead to an order.
        for _ in 0..<(count / 3) {
            let c = rng.pick(t.customers)
            whatsapp(tenant: t.id, customer: c, at: dayStart + orderTimeOfDay(), correlation: nil)
        }
        return times
    }

    /// Milliseconds after local midnight: busy at lunch and after work.
    private mutating func orderTimeOfDay() -> Int64 {
        let hour: Double = rng.weighted([(7.0, 0.05), (9.0, 0.1), (11.5, 0.25), (14.0, 0.1), (17.5, 0.3), (19.5, 0.2)])
        let h = min(23.2, max(6.0, hour + rng.double(-1.5...1.5)))
        return Int64(h * 3_600_000) + rng.int64(0...59_999)
    }

    private mutating func simulateUsage(tenant t: World.Tenant, dayStart: EpochMillis, day: Int) {
        // API calls every 5 minutes from 06:00 to 23:00; a burst hour crosses the tier's quota.
        let hourly = t.tier.limit(.apiCalls) ?? 20_000
        let burstHour = rng.int(9...20)
        let bursty = rng.chance(0.5)
        var at = dayStart + 6 * 3_600_000
        while at < dayStart + 23 * 3_600_000 {
            let hour = Int((at - dayStart) / 3_600_000)
            let base = Double(hourly) / 12 * rng.double(0.2...0.6)
            let amount = bursty && hour == burstHour ? Double(hourly) / 12 * rng.double(1.0...1.6) : base
            emit(.usageRecorded, at: at + rng.int64(0...20_000), tenant: t.id, correlation: nil, causation: nil, actor: ("service", "api-gateway")) { w, rng in
                w.field("resource", "api_calls")
                w.field("amount", Int64(amount.rounded()))
                w.field("endpoint", ["/v1/orders", "/v1/products", "/v1/messages", "/v1/payments"][Int(at / 300_000 % 4)])
            }
            at += 300_000
        }
        // Gauges: catalog size and storage daily, concurrent users every 30 minutes.
        let productLimit = Double(t.tier.limit(.products) ?? 5000)
        emit(.usageRecorded, at: dayStart + 2 * 3_600_000, tenant: t.id, correlation: nil, causation: nil, actor: ("system", "metering")) { w, rng in
            w.field("resource", "products")
            w.field("amount", Int64(productLimit * rng.double(0.3...1.05)))
        }
        let storageLimit = Double(t.tier.limit(.storageGB) ?? 500)
        emit(.usageRecorded, at: dayStart + 2 * 3_600_000 + 60_000, tenant: t.id, correlation: nil, causation: nil, actor: ("system", "metering")) { w, rng in
            w.field("resource", "storage_gb")
            w.field("amount", (storageLimit * rng.double(0.1...0.95) * 100).rounded() / 100)
        }
        let userLimit = Double(t.tier.limit(.concurrentUsers) ?? 300)
        var u = dayStart + 7 * 3_600_000
        while u < dayStart + 22 * 3_600_000 {
            emit(.usageRecorded, at: u, tenant: t.id, correlation: nil, causation: nil, actor: ("system", "metering")) { w, rng in
                w.field("resource", "concurrent_users")
                w.field("amount", Int64(userLimit * rng.double(0.1...0.9)))
            }
            u += 1_800_000
        }
    }

    private mutating func whatsapp(tenant: String, customer: World.Customer, at: EpochMillis, correlation: String?) {
        let type: MessageType = rng.weighted([(.text, 0.6), (.interactive, 0.25), (.image, 0.1), (.location, 0.05)])
        let mid = ids.next("wamid.")
        emit(.whatsappMessageReceived, at: at, tenant: tenant, correlation: correlation, causation: nil, actor: ("user", customer.id)) { w, rng in
            w.field("message_id", mid)
            w.field("from", customer.phone)
            w.field("type", type.rawValue)
            w.beginObject("content")
            switch type {
            case .text: w.field("body", rng.pick(["Sawubona! Ngicela i-menu", "Are you open?", "2 kotas please", "Hoeveel is die brood?", "Dumela, is the order ready?", "Ngiyabonga!"]))
            case .interactive: w.field("button_reply", rng.pick(["menu", "order_status", "pay_now", "talk_to_agent"]))
            case .image: w.field("media_id", "media-\(mid.suffix(6))"); w.field("mime_type", "image/jpeg")
            case .location: w.field("latitude", customer.home.lat); w.field("longitude", customer.home.lng)
            }
            w.endObject()
            w.field("received_at", RFC3339.format(at - rng.int64(50...900)))
        }
    }

    // MARK: an order's life

    private mutating func simulateOrder(tenant ti: Int, at t0: EpochMillis) {
        let t = world.tenants[ti]
        // Returning customers: a few regulars place most orders.
        let ci = Int(Double(t.customers.count) * rng.unit() * rng.unit())
        let customer = t.customers[ci]
        let orderID = ids.next("o-")
        let corr = ids.next("x-")
        let cust = ("user", customer.id)

        var chatAt = t0 - rng.int64(120_000...900_000)
        for _ in 0..<rng.int(1...4) {
            whatsapp(tenant: t.id, customer: customer, at: chatAt, correlation: corr)
            chatAt += rng.int64(20_000...90_000)
        }

        // Items and money.
        var items: [(World.Product, Int64)] = []
        for _ in 0..<rng.weighted([(1, 0.45), (2, 0.3), (3, 0.15), (5, 0.1)]) {
            let p = rng.pick(t.products)
            if items.contains(where: { $0.0.id == p.id }) { continue }
            items.append((p, Int64(rng.weighted([(1, 0.6), (2, 0.25), (3, 0.1), (6, 0.05)]))))
        }
        let subtotal = Money(cents: items.reduce(0) { $0 + $1.0.price.cents * $1.1 })
        let fee = Money(cents: rng.pick([0, 1000, 1500, 2000, 2500]))
        let tax = Money(cents: 0) // prices include VAT
        let discount = rng.chance(0.1) ? Money(cents: min(subtotal.cents / 10, 2000)) : .zero
        let total = subtotal + fee + tax - discount
        let method: OrderPaymentMethod = t.city == .nairobi
            ? rng.weighted([(.mobileMoney, 0.7), (.cash, 0.3)])
            : rng.weighted([(.cash, 0.35), (.card, 0.3), (.eft, 0.2), (.mobileMoney, 0.15)])
        let moneyAsString = rng.chance(0.5)
        let created = t0
        emit(.orderCreated, at: created, tenant: t.id, correlation: corr, causation: nil, actor: cust) { w, rng in
            w.field("order_id", orderID)
            w.field("customer_id", customer.id)
            w.beginArray("items")
            for (p, q) in items {
                w.beginObject()
                w.field("product_id", p.id)
                w.field("name", p.name)
                w.field("quantity", q)
                w.money("unit_price", p.price, asString: moneyAsString)
                w.field("vendor_id", p.vendorID)
                w.endObject()
            }
            w.endArray()
            w.money("subtotal", subtotal, asString: moneyAsString)
            w.money("delivery_fee", fee, asString: moneyAsString)
            w.money("tax", tax, asString: moneyAsString)
            w.money("discount", discount, asString: moneyAsString)
            w.money("total_amount", total, asString: moneyAsString)
            w.field("payment_method", method.rawValue)
            w.field("source", rng.weighted([("whatsapp", 0.75), ("web", 0.1), ("ussd", 0.1), ("mobile", 0.05)]))
        }
        for (p, q) in items {
            let old = Int64(rng.int(q == 1 ? 1...80 : Int(q)...80))
            emit(.inventoryUpdated, at: created + 500, tenant: t.id, correlation: corr, causation: nil, actor: ("service", "inventory-service")) { w, rng in
                w.field("product_id", p.id); w.field("vendor_id", p.vendorID)
                w.field("old_quantity", old); w.field("new_quantity", old - q); w.field("reason", "sale")
            }
        }

        var now = created
        // Early cancellation by the customer.
        if rng.chance(0.06) {
            now += rng.int64(60_000...600_000)
            emit(.orderCancelled, at: now, tenant: t.id, correlation: corr, causation: nil, actor: cust) { w, rng in
                w.field("order_id", orderID); w.field("reason", "customer_changed_mind"); w.field("cancelled_by", customer.id)
            }
            return
        }

        // Payment before confirmation (non-cash).
        var paidPaymentID: String? = nil
        var cashPaymentID: String? = nil
        if method != .cash {
            let (pm, gw): (String, String) = switch method {
            case .card: ("card", "paystack")
            case .eft: (rng.chance(0.8) ? "instant_eft" : "bank_transfer", "ozow")
            default: (rng.chance(0.9) ? "mobile_money" : "ussd", "mpesa")
            }
            var attempt = 0
            while paidPaymentID == nil {
                attempt += 1
                let pid = ids.next("pay-")
                now += rng.int64(10_000...90_000)
                emit(.paymentInitiated, at: now, tenant: t.id, correlation: corr, causation: nil, actor: cust) { w, rng in
                    w.field("payment_id", pid); w.field("order_id", orderID)
                    w.money("amount", total, asString: moneyAsString); w.field("method", pm); w.field("gateway", gw)
                }
                now += rng.int64(3_000...45_000)
                if rng.chance(0.12) {
                    let code = rng.pick(["insufficient_funds", "card_declined", "timeout", "authentication_failed"])
                    emit(.paymentFailed, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("service", gw)) { w, rng in
                        w.field("payment_id", pid); w.field("order_id", orderID); w.field("error_code", code)
                        if rng.chance(0.7) { w.field("error_message", "Gateway says: \(code.replacingOccurrences(of: "_", with: " "))") }
                    }
                    if attempt >= 2 || rng.chance(0.4) {
                        // The saga cancels the order and releases its stock.
                        now += rng.int64(1_000...30_000)
                        emit(.orderCancelled, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("service", "order-saga")) { w, rng in
                            w.field("order_id", orderID); w.field("reason", "payment_failed")
                        }
                        return
                    }
                } else {
                    let tx = ids.next("tx-")
                    emit(.paymentSucceeded, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("service", gw)) { w, rng in
                        w.field("payment_id", pid); w.field("order_id", orderID)
                        w.money("amount", total, asString: moneyAsString); w.field("transaction_id", tx)
                    }
                    paidPaymentID = pid
                }
            }
        } else {
            let pid = ids.next("pay-")
            cashPaymentID = pid
            now += rng.int64(2_000...20_000)
            emit(.paymentInitiated, at: now, tenant: t.id, correlation: corr, causation: nil, actor: cust) { w, rng in
                w.field("payment_id", pid); w.field("order_id", orderID)
                w.money("amount", total, asString: moneyAsString); w.field("method", "cash_on_delivery"); w.field("gateway", "cash")
            }
        }

        let vendor = items[0].0.vendorID
        let vendorAt = t.vendors.first { $0.id == vendor }!.at
        now += rng.int64(30_000...300_000)
        emit(.orderConfirmed, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("user", vendor)) { w, rng in
            w.field("order_id", orderID); w.field("vendor_id", vendor)
        }
        notify(tenant: t.id, to: customer.phone, template: "order_confirmed", at: now + 2_000, corr: corr)

        if rng.chance(0.03) {
            now += rng.int64(60_000...600_000)
            emit(.orderCancelled, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("user", vendor)) { w, rng in
                w.field("order_id", orderID); w.field("reason", "out_of_stock"); w.field("cancelled_by", vendor)
            }
            if let pid = paidPaymentID {
                emit(.paymentRefunded, at: now + 60_000, tenant: t.id, correlation: corr, causation: nil, actor: ("service", "payment-service")) { w, rng in
                    w.field("payment_id", pid); w.field("order_id", orderID); w.money("amount", total, asString: moneyAsString)
                }
            }
            return
        }

        now += rng.int64(60_000...600_000)
        emit(.orderProcessingStarted, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("user", vendor)) { w, rng in
            w.field("order_id", orderID)
        }
        now += rng.int64(300_000...1_500_000)
        emit(.orderReadyForPickup, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("user", vendor)) { w, rng in
            w.field("order_id", orderID)
        }
        if rng.chance(0.01) {
            // A double tap in the vendor app: an out-of-order transition the pipeline must reject.
            emit(.orderReadyForPickup, at: now + 4_000, tenant: t.id, correlation: corr, causation: nil, actor: ("user", vendor)) { w, rng in
                w.field("order_id", orderID)
            }
        }

        // Delivery: the nearest free driver in the city drives to the vendor, then to the customer.
        // Now and then a driver breaks down on the way and the delivery goes to another driver.
        var deliveryID = ""
        var di = 0
        var assignedAt = now
        while true {
            deliveryID = ids.next("dl-")
            di = pickDriver(city: t.city, near: vendorAt, at: assignedAt)
            // A busy driver takes the delivery when the current one is done.
            assignedAt = max(assignedAt, world.drivers[di].freeAt)
            let driver = world.drivers[di]
            let did = deliveryID
            emit(.deliveryAssigned, at: assignedAt + 1_000, tenant: t.id, correlation: corr, causation: nil, actor: ("service", "dispatch")) { w, _ in
                w.field("delivery_id", did); w.field("order_id", orderID); w.field("driver_id", driver.id)
                w.beginObject("pickup"); w.field("lat", vendorAt.lat); w.field("lng", vendorAt.lng); w.endObject()
                w.beginObject("dropoff"); w.field("lat", customer.home.lat); w.field("lng", customer.home.lng); w.endObject()
            }
            now = assignedAt + 1_000
            guard rng.chance(0.02) else { break }
            let halfway = driver.at.moved(towards: vendorAt, meters: driver.at.distance(to: vendorAt) / 2)
            now = drive(driver: di, from: driver.at, to: halfway, start: now, via: nil)
            emit(.deliveryCancelled, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("user", driver.id)) { w, rng in
                w.field("delivery_id", did)
                if rng.chance(0.8) { w.field("reason", "vehicle_breakdown") }
            }
            world.drivers[di].at = halfway
            world.drivers[di].freeAt = now + 3 * 3_600_000
            assignedAt = now + 60_000
        }
        let driver = world.drivers[di]
        let detour = rng.chance(0.05)
        now = drive(driver: di, from: driver.at, to: vendorAt, start: now, via: nil)
        emit(.deliveryPickedUp, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("user", driver.id)) { w, rng in
            w.field("delivery_id", deliveryID); w.field("driver_id", driver.id)
        }
        emit(.orderPickedUp, at: now + 500, tenant: t.id, correlation: corr, causation: nil, actor: ("user", driver.id)) { w, rng in
            w.field("order_id", orderID); w.field("delivery_id", deliveryID)
        }
        notify(tenant: t.id, to: customer.phone, template: "out_for_delivery", at: now + 1_500, corr: corr)
        let via: GeoPoint? = detour ? jitter(GeoPoint(lat: (vendorAt.lat + customer.home.lat) / 2 + 0.02,
                                                      lng: (vendorAt.lng + customer.home.lng) / 2), meters: 300, &rng) : nil
        now = drive(driver: di, from: vendorAt, to: customer.home, start: now + 1_000, via: via)
        emit(.deliveryCompleted, at: now, tenant: t.id, correlation: corr, causation: nil, actor: ("user", driver.id)) { w, rng in
            w.field("delivery_id", deliveryID); w.field("driver_id", driver.id)
            if rng.chance(0.6) { w.field("signature", "sig-\(customer.id.suffix(5))") }
            if rng.chance(0.4) { w.field("photo_url", "https://media.wakala.example/pod/\(deliveryID).jpg") }
        }
        if let pid = cashPaymentID {
            let tx = ids.next("cash-")
            emit(.paymentSucceeded, at: now + 2_000, tenant: t.id, correlation: corr, causation: nil, actor: ("user", driver.id)) { w, rng in
                w.field("payment_id", pid); w.field("order_id", orderID)
                w.money("amount", total, asString: moneyAsString); w.field("transaction_id", tx)
            }
        }
        emit(.orderCompleted, at: now + 5_000, tenant: t.id, correlation: corr, causation: nil, actor: ("user", driver.id)) { w, rng in
            w.field("order_id", orderID); w.field("delivery_id", deliveryID)
        }
        if let pid = paidPaymentID, rng.chance(0.02) {
            emit(.paymentRefunded, at: now + rng.int64(3_600_000...20 * 3_600_000), tenant: t.id, correlation: corr, causation: nil, actor: ("service", "payment-service")) { w, rng in
                w.field("payment_id", pid); w.field("order_id", orderID); w.money("amount", total, asString: moneyAsString)
            }
        }
        world.drivers[di].at = customer.home
        world.drivers[di].freeAt = now
    }

    private mutating func notify(tenant: String, to phone: String, template: String, at: EpochMillis, corr: String) {
        let nid = ids.next("n-")
        let channel = rng.chance(0.85) ? "whatsapp" : "sms"
        emit(.notificationSent, at: at, tenant: tenant, correlation: corr, causation: nil, actor: ("service", "notification-service")) { w, rng in
            w.field("notification_id", nid); w.field("recipient", phone); w.field("channel", channel); w.field("template", template)
        }
    }

    private mutating func pickDriver(city: World.City, near p: GeoPoint, at: EpochMillis) -> Int {
        var best = -1
        var bestDistance = Double.infinity
        for (i, d) in world.drivers.enumerated() where d.city == city && d.freeAt <= at {
            let dist = d.at.distance(to: p)
            if dist < bestDistance { best = i; bestDistance = dist }
        }
        if best >= 0 { return best }
        // Everyone is busy: the driver who frees up first takes it on top.
        return world.drivers.indices.filter { world.drivers[$0].city == city }
            .min { world.drivers[$0].freeAt < world.drivers[$1].freeAt } ?? 0
    }

    /// Drives from `a` to `b` (through `via` if given), emitting locations; returns arrival time.
    private mutating func drive(driver di: Int, from a: GeoPoint, to b: GeoPoint, start: EpochMillis, via: GeoPoint?) -> EpochMillis {
        let driverID = world.drivers[di].id
        var legs = [b]
        if let via { legs = [via, b] }
        var pos = a
        var now = start
        let step = Int64(config.locationIntervalSeconds) * 1000
        for target in legs {
            while pos.distance(to: target) > 25 {
                let stopped = rng.chance(0.08) // waiting at a robot
                let speed = stopped ? rng.double(0...0.8) : rng.double(5.5...13.0)
                now += step
                pos = pos.moved(towards: target, meters: speed * Double(step) / 1000)
                let here = jitter(pos, meters: 6, &rng)
                let reportSpeed = rng.chance(0.9)
                emit(.driverLocationUpdated, at: now, tenant: "platform", correlation: nil, causation: nil, actor: nil, key: driverID) { w, rng in
                    w.field("driver_id", driverID)
                    w.field("lat", here.lat)
                    w.field("lng", here.lng)
                    if reportSpeed { w.field("speed_mps", (speed * 10).rounded() / 10) }
                    w.field("heading", Double(rng.int(0...359)))
                    w.field("accuracy_m", Double(rng.int(3...25)))
                }
            }
        }
        return now + step
    }
}

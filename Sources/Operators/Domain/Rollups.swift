import Domain
import HeapModule

/// Per-tenant rollups (CONTRACT §2.5), hourly and daily in the tenant's timezone.
///
/// Order metrics belong to the bucket of the order's `order.created` time (cohort), with the
/// order's current status as the state machine decided it (an order created at 09:10 and
/// completed at 14:00 moves the 09:00 bucket's completed count). Unique and new customers are
/// exact (sets; a customer is new in the bucket of their earliest `order.created` for the tenant,
/// moved if an earlier one turns up). Per product: distinct orders, quantity, revenue; the name is
/// the latest seen in event time. Payments by gateway and method (from the payment's
/// `payment.initiated`, `unknown` without one) in the bucket of each payment event's own time.
/// Deliveries in the bucket of `delivery.completed`. WhatsApp messages by type, by event time.
///
/// Statuses are exactly the state machine's: in a pipeline the rollup takes the status changes of
/// the `order_lifecycle` operator reading the same input (`statuses:`), which emits them at the
/// same watermark just before the rollup advances; on its own it runs its own ``OrderLifecycle``.
/// Events are applied in event-time order once the watermark passes them.
public struct Rollups {
    public enum Granularity: String, CaseIterable, Sendable { case hour, day }

    public struct Sales: Equatable, Sendable {
        public var orders: Int64 = 0, grossRevenueCents: Int64 = 0, netRevenueCents: Int64 = 0, itemsSold: Int64 = 0
        public var completedOrders: Int64 = 0, cancelledOrders: Int64 = 0, fulfillmentMillisSum: Int64 = 0
        public var customers: Set<FastKey> = [], newCustomers: Set<FastKey> = []
        /// Orders created in the bucket whose facts are still held (their status may change).
        var open: Int64 = 0
        /// Closed (retention): the sets are final, written, and dropped; their sizes stay.
        var frozen: (customers: Int64, newCustomers: Int64)?
        public var uniqueCustomerCount: Int64 { frozen?.customers ?? Int64(customers.count) }
        public var newCustomerCount: Int64 { frozen?.newCustomers ?? Int64(newCustomers.count) }
        public static func == (a: Sales, b: Sales) -> Bool {
            [a.orders, a.grossRevenueCents, a.netRevenueCents, a.itemsSold, a.completedOrders, a.cancelledOrders, a.fulfillmentMillisSum]
                == [b.orders, b.grossRevenueCents, b.netRevenueCents, b.itemsSold, b.completedOrders, b.cancelledOrders, b.fulfillmentMillisSum]
                && a.customers == b.customers && a.newCustomers == b.newCustomers && a.open == b.open
                && a.frozen?.customers == b.frozen?.customers && a.frozen?.newCustomers == b.frozen?.newCustomers
        }
    }

    public struct Product: Equatable, Sendable {
        public var orders: Set<FastKey> = [], quantity: Int64 = 0, revenueCents: Int64 = 0
        /// The latest name in event time (ties: the larger event id, as events are ordered).
        public var name: String?, nameAt: EpochMillis = .min, nameEventID = ""
    }

    public struct Payments: Equatable, Sendable {
        public var initiated: Int64 = 0, succeeded: Int64 = 0, failed: Int64 = 0, succeededAmountCents: Int64 = 0
        public init(initiated: Int64 = 0, succeeded: Int64 = 0, failed: Int64 = 0, succeededAmountCents: Int64 = 0) {
            self.initiated = initiated; self.succeeded = succeeded; self.failed = failed; self.succeededAmountCents = succeededAmountCents
        }
    }

    public struct Deliveries: Equatable, Sendable {
        public var completed: Int64 = 0, deliveryMillisSum: Int64 = 0
        public init(completed: Int64 = 0, deliveryMillisSum: Int64 = 0) { self.completed = completed; self.deliveryMillisSum = deliveryMillisSum }
    }

    /// A bucket: tenant, granularity and start (UTC ms).
    public struct Bucket: Hashable, Comparable, Sendable {
        /// The tenant as a ``FastKey``: its hash is computed once per event, not per table access.
        public var tenantKey: FastKey
        public var granularity: Granularity
        public var start: EpochMillis
        public var tenant: String { tenantKey.text }

        public init(tenant: String, granularity: Granularity, start: EpochMillis) {
            self.init(tenantKey: FastKey(tenant), granularity: granularity, start: start)
        }
        public init(tenantKey: FastKey, granularity: Granularity, start: EpochMillis) {
            self.tenantKey = tenantKey; self.granularity = granularity; self.start = start
        }
        public static func < (a: Bucket, b: Bucket) -> Bool {
            (a.tenant, a.granularity.rawValue, a.start) < (b.tenant, b.granularity.rawValue, b.start)
        }
        public static func == (a: Bucket, b: Bucket) -> Bool {
            a.start == b.start && a.granularity == b.granularity && a.tenantKey == b.tenantKey
        }
        /// The tenant's digest, start and granularity as one word (hashing the tenant's bytes with
        /// SipHash was a fifth of the rollups' time).
        public func hash(into h: inout Hasher) { h.combine(word) }
        /// Straight to a bucket hash, no SipHash rounds (see ``FastKey/_rawHashValue(seed:)``).
        public func _rawHashValue(seed: Int) -> Int { FastKey.mix(word, seed) }
        private var word: UInt64 {
            tenantKey.digest &+ UInt64(bitPattern: start) &* 0x9E37_79B9_7F4A_7C15 &+ (granularity == .hour ? 0 : 1)
        }
    }

    /// An event's buckets: one per configured granularity (a fixed pair, not an array per event).
    struct Buckets: Sequence, IteratorProtocol {
        var hour: Bucket?, day: Bucket?
        mutating func next() -> Bucket? {
            if let h = hour { hour = nil; return h }
            if let d = day { day = nil; return d }
            return nil
        }
    }

    /// Per tenant: its zone, its key, and the buckets last marked dirty (an event of the same
    /// tenant and hour marks nothing again) with the drain they were marked in.
    struct Tenant {
        var zone: TenantZone
        let key: FastKey
        var marked: (hour: EpochMillis, day: EpochMillis, drain: Int) = (.min, .min, -1)
    }


    struct OrderFacts {
        var created: EpochMillis
        var customer: String
        var total: Int64
        var tenant: FastKey
    }

    public let granularities: [Granularity]
    public internal(set) var sales: [Bucket: Sales] = [:]
    public internal(set) var products: [Bucket: [FastKey: Product]] = [:]   // product id
    public internal(set) var payments: [Bucket: [FastKey: Payments]] = [:]  // "gateway/method"
    public internal(set) var deliveries: [Bucket: Deliveries] = [:]
    public internal(set) var messages: [Bucket: [FastKey: Int64]] = [:]     // message type

    /// Its own state machine, or nil when status changes come from the pipeline's (``take(statusChanges:)``).
    var lifecycle: OrderLifecycle?
    /// Status changes taken since the last advance.
    var taken: [DerivedEvent] = []
    let allowedLateness: Int64
    // Keyed by `FastKey` (one fast hash per lookup instead of SipHash over every byte).
    var tenants: [FastKey: Tenant] = [:]
    var orders: [FastKey: OrderFacts] = [:]                 // tenant/order
    /// A customer's earliest `order.created` (for `new_customers`), kept for good: keyed by the
    /// stable hash of `tenant/customer` (``FastKey/stableHash``), 16 bytes a customer instead of
    /// the key's text (~110 bytes with its allocation).
    var firstOrder: [UInt64: EpochMillis] = [:]
    var paymentKind: [FastKey: FastKey] = [:]               // tenant/payment → gateway/method
    var assignedAt: [FastKey: EpochMillis] = [:]            // tenant/delivery → assigned time
    var pending = HeldEvents()
    var watermark = WatermarkTracker.start
    /// Buckets changed since the last ``drainReadModel()`` (every change goes through `buckets`).
    var dirty: Set<Bucket> = []

    /// Retention (on when a sink keeps the read model), applied after each read-model drain:
    /// an order's facts leave once the watermark has passed its completion or cancellation +
    /// allowed lateness (its key kept in ``retiredOrders``); a payment's gateway once it
    /// succeeded or failed, a delivery's assignment once it ended (same delay); a bucket's
    /// products, payments, deliveries and messages once the watermark has passed its end +
    /// allowed lateness (nothing can change them then), its sales then too when none of its
    /// orders is held — else its customer sets are dropped for their sizes (``Sales/frozen``).
    public var retention = false
    var orderRetiring = RetirementQueue(), paymentRetiring = RetirementQueue(), assignmentRetiring = RetirementQueue()
    public internal(set) var retiredOrders = RetiredKeys()
    /// Buckets by closing time (end + allowed lateness), each once.
    var closing = Heap<BucketTimer>()
    var scheduled: Set<Bucket> = []

    struct BucketTimer: Comparable {
        var time: EpochMillis
        var bucket: Bucket
        static func < (a: BucketTimer, b: BucketTimer) -> Bool { a.time != b.time ? a.time < b.time : a.bucket < b.bucket }
    }

    /// Incremental checkpoints: order facts and first orders are checkpointed as entries, those
    /// changed since the last ``changedEntries()`` (not in ``snapshot()``).
    public var tracksEntries = false
    var changedFacts: Set<FastKey> = [], changedFirst: Set<UInt64> = []

    /// Drains so far (a tenant's marks from an earlier drain are stale).
    private var drains = 0

    /// One zone for every tenant's buckets (the pipeline's `rollup.timezone` set to an IANA
    /// zone); nil: each tenant's own, from its `tenant.created` (CONTRACT §2.5).
    public var fixedZone: TenantZone?

    public init(granularities: [Granularity], allowedLateness: Int64, ownStateMachine: Bool = true) {
        self.granularities = granularities
        hourly = granularities.contains(.hour)
        daily = granularities.contains(.day)
        self.allowedLateness = allowedLateness
        lifecycle = ownStateMachine ? OrderLifecycle(allowedLateness: allowedLateness) : nil
    }

    /// Derived events of the pipeline's order state machine (only `order.status_changed` count).
    public mutating func take(statusChanges: [DerivedEvent]) {
        taken.append(contentsOf: statusChanges.lazy.filter { $0.type == "order.status_changed" })
    }

    /// The event types rollups apply (all but driver locations, inventory, notifications, usage).
    static let types = EventTypeSet(EventType.allCases.filter { ![.driverLocationUpdated, .inventoryUpdated, .notificationSent, .usageRecorded].contains($0) })

    public mutating func process(_ batch: [Timestamped<Event>]) {
        lifecycle?.process(batch)
        batch.forEach(of: Self.types) { pending.append($0) }
    }

    /// Applies what the watermark has passed (events in time order; then the state machine's
    /// status changes up to the same watermark).
    public mutating func advance(to wm: EpochMillis) {
        guard wm > watermark else { return }
        watermark = wm
        pending.takeDue(wm).drainPrefetching { apply($0.value) }
        if lifecycle != nil {
            for d in lifecycle!.advance(to: wm) where d.type == "order.status_changed" { statusChanged(d) }
        } else {
            for d in taken { statusChanged(d) }
            taken.removeAll(keepingCapacity: true)
        }
    }

    private let hourly: Bool, daily: Bool

    private mutating func buckets(_ tenant: String, _ t: EpochMillis) -> Buckets {
        let key = FastKey(tenant)
        // The tenant changed in place (its zone caches offsets): one lookup.
        let (hour, day, fresh) = inPlace(&tenants[key, default: Tenant(zone: fixedZone ?? .johannesburg, key: key)]) { s in
            let hour = hourly ? s.zone.hourStart(t) : .min, day = daily ? s.zone.dayStart(t) : .min
            // A tenant's events mostly hit the buckets it hit last: those are marked already.
            let fresh = s.marked != (hour, day, drains)
            if fresh { s.marked = (hour, day, drains) }
            return (hour, day, fresh)
        }
        let out = Buckets(hour: hourly ? Bucket(tenantKey: key, granularity: .hour, start: hour) : nil,
                          day: daily ? Bucket(tenantKey: key, granularity: .day, start: day) : nil)
        if fresh {
            for b in out {
                dirty.insert(b)
                if retention { scheduleCloseOnce(b) }
            }
        }
        return out
    }

    /// When a bucket can no longer change: its end (a day is at most 25 h) + allowed lateness.
    mutating func scheduleCloseOnce(_ b: Bucket) {
        guard scheduled.insert(b).inserted else { return }
        let length: Int64 = b.granularity == .hour ? 3_600_000 : 25 * 3_600_000
        closing.insert(BucketTimer(time: b.start &+ length &+ allowedLateness, bucket: b))
    }

    /// Retires what may (see ``retention``), after the read-model rows were taken.
    mutating func retire() {
        guard retention else { return }
        if lifecycle != nil {
            lifecycle!.dirty.removeAll() // its read model is not written (this rollup's own machine)
            lifecycle!.retire()
        }
        let wm = watermark
        for k in orderRetiring.popDue(wm) {
            guard let o = orders.removeValue(forKey: k) else { continue }
            retiredOrders.insert(k)
            if tracksEntries { changedFacts.insert(k) }
            for b in buckets(of: o.tenant, o.created) {
                guard let i = sales.index(forKey: b) else { continue }
                sales.values[i].open -= 1
                if sales.values[i].open == 0, sales.values[i].frozen != nil { sales.remove(at: i); scheduled.remove(b) }
            }
        }
        for k in paymentRetiring.popDue(wm) { paymentKind[k] = nil }
        for k in assignmentRetiring.popDue(wm) { assignedAt[k] = nil }
        while let t = closing.min, t.time <= wm {
            _ = closing.removeMin()
            let b = t.bucket
            products[b] = nil; payments[b] = nil; deliveries[b] = nil; messages[b] = nil
            if let i = sales.index(forKey: b) {
                if sales.values[i].open == 0 {
                    sales.remove(at: i)
                } else if sales.values[i].frozen != nil {
                    continue // frozen already (scheduled again by a restore): its sizes stay
                } else {
                    let s = sales.values[i]
                    sales.values[i].frozen = (Int64(s.customers.count), Int64(s.newCustomers.count))
                    sales.values[i].customers = []
                    sales.values[i].newCustomers = []
                    continue // stays scheduled: removed when its last order retires
                }
            }
            scheduled.remove(b)
        }
    }

    /// A tenant's buckets of an instant, without marking them changed.
    private func buckets(of tenant: FastKey, _ t: EpochMillis) -> Buckets {
        var zone = tenants[tenant]?.zone ?? fixedZone ?? .johannesburg
        return Buckets(hour: hourly ? Bucket(tenantKey: tenant, granularity: .hour, start: zone.hourStart(t)) : nil,
                       day: daily ? Bucket(tenantKey: tenant, granularity: .day, start: zone.dayStart(t)) : nil)
    }

    private mutating func apply(_ e: Event) {
        let tenant = e.tenantID
        switch e.payload {
        case .tenantCreated(let c):
            let key = FastKey(tenant)
            tenants[key] = Tenant(zone: fixedZone ?? TenantZone(identifier: c.timezone) ?? .johannesburg, key: key)
        case .orderCreated(let o):
            let key = FastKey(tenant, o.orderID)
            // A duplicate order (the state machine rejects it), also one already retired.
            guard orders[key] == nil, !retiredOrders.contains(key) else { return }
            orders[key] = OrderFacts(created: e.time, customer: o.customerID, total: o.totalAmount.cents, tenant: FastKey(tenant))
            if tracksEntries { changedFacts.insert(key) }
            let bs = buckets(tenant, e.time)
            let customer = FastKey(o.customerID), order = FastKey(o.orderID)
            for b in bs {
                // Each bucket's state changed in place: one lookup, and its sets are not copied.
                inPlace(&sales[b, default: Sales()]) { s in
                    s.orders += 1
                    s.open += 1
                    s.grossRevenueCents += o.totalAmount.cents
                    s.itemsSold += o.itemCount
                    s.customers.insert(customer)
                }
                inPlace(&products[b, default: [:]]) { ps in
                    for item in o.items {
                        inPlace(&ps[FastKey(item.productID), default: Product()]) { p in
                            p.orders.insert(order)
                            p.quantity += item.quantity
                            p.revenueCents += item.lineTotal.cents
                            if let n = item.name, (e.time, e.eventID) >= (p.nameAt, p.nameEventID) {
                                p.name = n; p.nameAt = e.time; p.nameEventID = e.eventID
                            }
                        }
                    }
                }
            }
            // New customers: the bucket of the customer's earliest order.created.
            let ck = FastKey.stableHash(tenant, o.customerID)
            if let first = firstOrder[ck], first <= e.time { break }
            if let first = firstOrder[ck] {
                for b in buckets(tenant, first) { sales[b]?.newCustomers.remove(customer) }
            }
            firstOrder[ck] = e.time
            if tracksEntries { changedFirst.insert(ck) }
            for b in bs { sales[b]?.newCustomers.insert(customer) }
        case .paymentInitiated(let p):
            let kind = FastKey(p.gateway.rawValue, p.method.rawValue)
            paymentKind[FastKey(tenant, p.paymentID)] = kind
            for b in buckets(tenant, e.time) { payments[b, default: [:]][kind, default: Payments()].initiated += 1 }
        case .paymentSucceeded(let p):
            let pk = FastKey(tenant, p.paymentID)
            let kind = paymentKind[pk] ?? Self.unknownKind
            if retention, paymentKind[pk] != nil { paymentRetiring.schedule(pk, at: e.time &+ allowedLateness) }
            for b in buckets(tenant, e.time) {
                inPlace(&payments[b, default: [:]][kind, default: Payments()]) { q in
                    q.succeeded += 1
                    q.succeededAmountCents += p.amount.cents
                }
            }
        case .paymentFailed(let p):
            let pk = FastKey(tenant, p.paymentID)
            let kind = paymentKind[pk] ?? Self.unknownKind
            if retention, paymentKind[pk] != nil { paymentRetiring.schedule(pk, at: e.time &+ allowedLateness) }
            for b in buckets(tenant, e.time) { payments[b, default: [:]][kind, default: Payments()].failed += 1 }
        case .deliveryAssigned(let d):
            assignedAt[FastKey(tenant, d.deliveryID)] = e.time
        case .deliveryCancelled(let d):
            let dk = FastKey(tenant, d.deliveryID)
            if retention, assignedAt[dk] != nil { assignmentRetiring.schedule(dk, at: e.time &+ allowedLateness) }
        case .deliveryCompleted(let d):
            let dk = FastKey(tenant, d.deliveryID)
            let assigned = assignedAt[dk]
            if retention, assigned != nil { assignmentRetiring.schedule(dk, at: e.time &+ allowedLateness) }
            for b in buckets(tenant, e.time) {
                inPlace(&deliveries[b, default: Deliveries()]) { q in
                    q.completed += 1
                    if let a = assigned { q.deliveryMillisSum += e.time - a }
                }
            }
        case .whatsappMessageReceived(let m):
            let type = FastKey(m.type.rawValue)
            for b in buckets(tenant, e.time) { messages[b, default: [:]][type, default: 0] += 1 }
        default:
            break
        }
    }

    /// Cohort updates from the state machine: completed and cancelled orders count in the bucket
    /// of their creation.
    private mutating func statusChanged(_ d: DerivedEvent) {
        func field(_ name: String) -> String? {
            for (k, v) in d.data where k == name { if case .string(let s) = v { return s } }
            return nil
        }
        guard let to = field("to"), to == "completed" || to == "cancelled", let orderID = field("order_id") else { return }
        let key = FastKey(d.tenantID, orderID)
        guard let o = orders[key] else { return }
        if retention { orderRetiring.schedule(key, at: d.time &+ allowedLateness) }
        for b in buckets(d.tenantID, o.created) {
            inPlace(&sales[b, default: Sales()]) { s in
                if to == "completed" {
                    s.completedOrders += 1
                    s.netRevenueCents += o.total
                    s.fulfillmentMillisSum += d.time - o.created
                } else {
                    s.cancelledOrders += 1
                }
            }
        }
    }

    /// A payment without a `payment.initiated`.
    static let unknownKind = FastKey("unknown", "unknown")

    /// Milliseconds as exact decimal seconds (`5.25`).
    static func seconds(_ ms: Int64) -> OutputValue {
        if ms % 1000 == 0 { return .number(String(ms / 1000)) }
        var frac = String(ms % 1000)
        frac = String(repeating: "0", count: 3 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return .number("\(ms / 1000).\(frac)")
    }

    /// Every bucket as rows, tables `rollup_hourly`/`rollup_daily`, `rollup_products`,
    /// `rollup_payments`, `rollup_deliveries`, `rollup_messages`, sorted by tenant, bucket, key.
    public func rows() -> [OutputRow] { rows(of: nil) }

    /// The changed buckets' rows since the last call, as read-model rows (table from the row),
    /// and each changed bucket's customer set (`rollup_customers`: the dashboard unions them for
    /// exact unique customers over any aligned range).
    public mutating func drainReadModel() -> [ReadModelRow] {
        defer { dirty.removeAll(); drains += 1; retire() }
        var out = rows(of: dirty).map { r in
            guard case .string(let table) = r.fields[0].1 else { preconditionFailure("rollup rows start with their table") }
            var row = r
            row.fields.removeFirst()
            return ReadModelRow(table: table, row: row)
        }
        for b in dirty.sorted() {
            guard let s = sales[b], s.frozen == nil else { continue } // a frozen bucket's set is written and final
            out.append(ReadModelRow("rollup_customers", [
                ("tenant_id", .string(b.tenant)), ("granularity", .string(b.granularity.rawValue)), ("bucket_start", .time(b.start)),
                ("customers", .strings(s.customers.map(\.text).sorted()))]))
        }
        return out
    }

    /// Rows of `only` these buckets (every bucket when nil).
    func rows(of only: Set<Bucket>?) -> [OutputRow] {
        var out: [OutputRow] = []
        func head(_ table: String, _ b: Bucket) -> [(String, OutputValue)] {
            [("table", .string(table)), ("tenant_id", .string(b.tenant)), ("granularity", .string(b.granularity.rawValue)),
             ("bucket_start", .time(b.start))]
        }
        for b in sales.keys.sorted() where only?.contains(b) ?? true {
            let s = sales[b]!
            out.append(OutputRow(head(b.granularity == .hour ? "rollup_hourly" : "rollup_daily", b) + [
                ("orders", .int(s.orders)), ("gross_revenue_cents", .int(s.grossRevenueCents)), ("net_revenue_cents", .int(s.netRevenueCents)),
                ("items_sold", .int(s.itemsSold)), ("completed_orders", .int(s.completedOrders)), ("cancelled_orders", .int(s.cancelledOrders)),
                ("fulfillment_seconds_sum", Self.seconds(s.fulfillmentMillisSum)), ("unique_customers", .int(s.uniqueCustomerCount)),
                ("new_customers", .int(s.newCustomerCount))]))
        }
        for b in products.keys.sorted() where only?.contains(b) ?? true {
            for (id, p) in products[b]!.sorted(by: { $0.key < $1.key }) {
                out.append(OutputRow(head("rollup_products", b) + [("product_id", .string(id.text)), ("name", p.name.map { .string($0) } ?? .null),
                                                                  ("orders", .int(Int64(p.orders.count))), ("quantity", .int(p.quantity)),
                                                                  ("revenue_cents", .int(p.revenueCents))]))
            }
        }
        for b in payments.keys.sorted() where only?.contains(b) ?? true {
            for (kind, p) in payments[b]!.sorted(by: { $0.key < $1.key }) {
                let parts = kind.text.split(separator: "/", maxSplits: 1).map(String.init)
                out.append(OutputRow(head("rollup_payments", b) + [("gateway", .string(parts[0])), ("method", .string(parts[1])),
                                                                  ("initiated", .int(p.initiated)), ("succeeded", .int(p.succeeded)),
                                                                  ("failed", .int(p.failed)), ("succeeded_amount_cents", .int(p.succeededAmountCents))]))
            }
        }
        for b in deliveries.keys.sorted() where only?.contains(b) ?? true {
            let d = deliveries[b]!
            out.append(OutputRow(head("rollup_deliveries", b) + [("completed", .int(d.completed)), ("delivery_seconds_sum", Self.seconds(d.deliveryMillisSum))]))
        }
        for b in messages.keys.sorted() where only?.contains(b) ?? true {
            for (type, n) in messages[b]!.sorted(by: { $0.key < $1.key }) {
                out.append(OutputRow(head("rollup_messages", b) + [("type", .string(type.text)), ("count", .int(n))]))
            }
        }
        return out
    }
}

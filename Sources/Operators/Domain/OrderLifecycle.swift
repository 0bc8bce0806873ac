import Domain
import HeapModule

/// The order state machine and payment-failure saga (CONTRACT §2.2).
///
/// Per order (keyed by tenant and order id), events are applied in event-time order (ties:
/// `event_id`) once the watermark passes them. Accepted transitions emit `order.status_changed`
/// and extend the status history; anything else emits `order.transition_rejected` with a reason
/// and leaves the state alone. Payment events set the payment status; `payment.failed` on a
/// non-cash order that is pending or confirmed emits `order.compensation_requested`. Events of an
/// order whose `order.created` has not been seen are held until the watermark passes their time
/// + allowed lateness (a late `order.created` may still come), then rejected (`order_unknown`).
///
/// Derived events come out in (decision time, order, sequence) order, so the output does not
/// depend on batch sizes or partitioning.
public struct OrderLifecycle {
    /// Rejection reasons of `order.transition_rejected`.
    public enum RejectReason: String, Sendable {
        case orderUnknown = "order_unknown"
        case duplicateOrder = "duplicate_order"
        case invalidTransition = "invalid_transition"
        case paymentNotSucceeded = "payment_not_succeeded"
        case vendorUnknown = "vendor_unknown"
        case deliveryUnknown = "delivery_unknown"
    }

    /// One entry of an order's status history.
    public struct HistoryEntry: Equatable, Sendable {
        public var from: OrderStatus?
        public var to: OrderStatus
        public var eventID: String
        public var at: EpochMillis
    }

    /// What the lifecycle knows of an order (the `orders` read model's source).
    public struct Order: Sendable {
        public var tenantID: String
        public var orderID: String
        public var status: OrderStatus?
        public var paymentStatus: PaymentStatus?
        public var paymentMethod: OrderPaymentMethod?
        public var anyPaymentSucceeded = false
        public var vendorID: String?
        public var deliveryID: String?
        public var customerID: String?
        public var totalCents: Int64 = 0
        public var createdAt: EpochMillis?
        public var history: [HistoryEntry] = []
        /// History entries already handed to the read model (the history only grows, so a drain
        /// writes the entries after these). Not in snapshots: a checkpoint drains before it
        /// snapshots, so a restored order's whole history has been written.
        var historyWritten = 0
        /// Events waiting for the watermark (or for the order to be created).
        var pending: [Timestamped<Event>] = []
        /// Decision time of the last applied event (monotonic per order).
        var clock = EpochMillis.min
        /// When this order's live timer fires (one timer per order, not per event; timers of
        /// other times in the heap are stale and skipped).
        var armedAt = EpochMillis.max
        var seq = 0
    }

    public let allowedLateness: Int64
    /// Keyed `tenant/order`.
    public internal(set) var orders: [FastKey: Order] = [:]
    var timers = Heap<KeyTimer>()
    public internal(set) var watermark = WatermarkTracker.start
    /// Counters: applied transitions, rejections, compensations.
    public internal(set) var transitions = 0, rejections = 0, compensations = 0
    /// Orders changed since the last ``drainReadModel()``.
    var dirty: Set<FastKey> = []

    /// Retention (on when a sink keeps the read model): a completed or cancelled order with
    /// nothing held leaves memory once the watermark has passed its last decision +
    /// ``retainEnded`` (at the read-model drain after that, so its last rows are written first). Its
    /// key stays in ``retired``; the runner dead-letters later events of it as late
    /// (``retiredEvents(in:)``). Off, every order stays (a bounded replay's output needs them).
    public var retention = false
    /// How long an ended order stays after its last decision (≥ the allowed lateness, its default).
    public var retainEnded: Int64
    var retiring = RetirementQueue()
    /// Orders retired so far (stable hashes).
    public internal(set) var retired = RetiredKeys()

    /// Incremental checkpoints: orders are checkpointed as entries, those changed since the last
    /// ``changedEntries()`` (not in ``snapshot()``).
    public var tracksEntries = false
    /// Orders changed since the last ``changedEntries()`` (kept only with ``tracksEntries``).
    var changed: Set<FastKey> = []

    /// Whether events of an order not created yet wait for a late `order.created` until the
    /// watermark passes their time + allowed lateness (the default), or are rejected
    /// (`order_unknown`) as soon as it passes their time (`hold_unknown_orders: false`).
    public let holdUnknownOrders: Bool

    public init(allowedLateness: Int64, holdUnknownOrders: Bool = true) {
        self.allowedLateness = allowedLateness
        self.holdUnknownOrders = holdUnknownOrders
        retainEnded = allowedLateness
    }

    static let types: EventTypeSet = [.orderCreated, .orderConfirmed, .orderProcessingStarted, .orderReadyForPickup, .orderPickedUp,
                                      .orderCompleted, .orderCancelled, .paymentInitiated, .paymentSucceeded, .paymentFailed,
                                      .paymentRefunded, .deliveryAssigned]

    /// Buffers a batch's order, payment and `delivery.assigned` events.
    public mutating func process(_ batch: [Timestamped<Event>]) {
        batch.forEach(of: Self.types) { r in
            // By type first (`forEach(of:)`): reading `payload` copies it (and retains its strings).
            guard let order = r.value.orderID else { return }
            let k = FastKey(r.value.tenantID, order) // the order's key
            // Retired (the runner dead-letters these first; a caller without it drops them here).
            if !retired.isEmpty, orders[k] == nil, retired.contains(k) { return }
            // One hash lookup, the order changed in place (through `Optional` it was copied, and
            // each append copied its held events); true when the timer must move earlier.
            let earlier = inPlace(&orders[k, default: Order(tenantID: r.value.tenantID, orderID: order)]) { o in
                o.pending.append(r)
                guard r.time < o.armedAt else { return false }
                o.armedAt = r.time
                return true
            }
            if earlier { timers.insert(KeyTimer(time: r.time, key: k)) }
            if tracksEntries { changed.insert(k) }
        }
    }

    /// Counters, changed through one `inout` while an order is changed in place.
    struct Counts {
        var transitions = 0, rejections = 0, compensations = 0
    }

    /// Applies every event the watermark has passed; returns the derived events in order.
    public mutating func advance(to wm: EpochMillis) -> [DerivedEvent] {
        guard wm > watermark else { return [] }
        watermark = wm
        var out: [Decision] = []
        var counts = Counts(transitions: transitions, rejections: rejections, compensations: compensations)
        let unknownHold = holdUnknownOrders ? allowedLateness : 0
        while let t = timers.min, t.time <= wm {
            _ = timers.removeMin()
            // Most pops find the key's events already applied by an earlier timer (stale). The
            // order is changed in place in the table (no copy of its arrays, one lookup).
            guard let i = orders.index(forKey: t.key), orders.values[i].armedAt == t.time else { continue }
            dirty.insert(t.key)
            if tracksEntries { changed.insert(t.key) }
            let emitted = out.count
            if let due = Self.applyDue(&orders.values[i], wm: wm, unknownHold: unknownHold, counts: &counts, into: &out) {
                timers.insert(KeyTimer(time: due, key: t.key))
            } else if retention, orders.values[i].status?.isTerminal == true {
                retiring.schedule(t.key, at: orders.values[i].clock &+ retainEnded)
            }
            for j in emitted..<out.count { out[j].key = t.key.text } // the order's key, built once in `process`
        }
        transitions = counts.transitions; rejections = counts.rejections; compensations = counts.compensations
        return out.inOrder()
    }

    /// Applies an order's events at or before `wm` in (time, event_id) order; returns when its
    /// timer must fire next (nil when nothing is held).
    private static func applyDue(_ o: inout Order, wm: EpochMillis, unknownHold: Int64, counts: inout Counts,
                                 into out: inout [Decision]) -> EpochMillis? {
        o.pending.sortInEventOrder()
        var applied = 0
        for r in o.pending {
            guard r.time <= wm else { break }
            let isCreate = r.value.type == .orderCreated
            if o.status == nil && !isCreate {
                // Not created (yet): hold until the lateness has passed, then reject.
                let deadline = r.time &+ unknownHold
                guard deadline <= wm else { break }
                o.clock = max(o.clock, deadline)
                emit(&o, reject(o, r.value, .orderUnknown, &counts), into: &out)
                applied += 1
                continue
            }
            o.clock = max(o.clock, r.time)
            apply(r.value, to: &o, &counts, into: &out)
            applied += 1
        }
        o.pending.removeFirst(applied)
        o.armedAt = .max
        guard let next = o.pending.first else { return nil }
        let due = o.status == nil && next.value.type != .orderCreated ? next.time &+ unknownHold : next.time
        o.armedAt = due
        return due
    }

    /// Appends a decision; its key is the order's, set by ``advance(to:)``.
    private static func emit(_ o: inout Order, _ d: DerivedEvent, into out: inout [Decision]) {
        o.seq += 1
        out.append(Decision(time: o.clock, key: "", seq: o.seq, event: d))
    }

    private static func reject(_ o: Order, _ e: Event, _ reason: RejectReason, _ counts: inout Counts) -> DerivedEvent {
        counts.rejections += 1
        return DerivedEvent(type: "order.transition_rejected", time: e.time, tenantID: e.tenantID, causationID: e.eventID,
                            correlationID: e.correlationID,
                            data: [("order_id", .string(o.orderID)), ("state", o.status.map { .string($0.rawValue) } ?? .null),
                                   ("event_type", .string(e.type.rawValue)), ("event_id", .string(e.eventID)),
                                   ("reason", .string(reason.rawValue))])
    }

    private static func move(_ o: inout Order, to: OrderStatus, by e: Event, _ counts: inout Counts, into out: inout [Decision]) {
        let from = o.status
        o.status = to
        o.history.append(HistoryEntry(from: from, to: to, eventID: e.eventID, at: e.time))
        counts.transitions += 1
        emit(&o, DerivedEvent(type: "order.status_changed", time: e.time, tenantID: e.tenantID, causationID: e.eventID,
                              correlationID: e.correlationID,
                              data: [("order_id", .string(o.orderID)), ("from", from.map { .string($0.rawValue) } ?? .null),
                                     ("to", .string(to.rawValue)), ("event_id", .string(e.eventID)),
                                     ("at", .time(e.time))]), into: &out)
    }

    private static func apply(_ e: Event, to o: inout Order, _ counts: inout Counts, into out: inout [Decision]) {
        switch e.payload {
        case .orderCreated(let c):
            guard o.status == nil else { return emit(&o, reject(o, e, .duplicateOrder, &counts), into: &out) }
            o.paymentMethod = c.paymentMethod
            o.customerID = c.customerID
            o.totalCents = c.totalAmount.cents
            o.createdAt = e.time
            if o.vendorID == nil { o.vendorID = c.items.lazy.compactMap(\.vendorID).first }
            move(&o, to: .pending, by: e, &counts, into: &out)
        case .paymentInitiated:
            o.paymentStatus = .initiated
        case .paymentSucceeded:
            o.paymentStatus = .succeeded
            o.anyPaymentSucceeded = true
        case .paymentRefunded:
            o.paymentStatus = .refunded
        case .paymentFailed:
            o.paymentStatus = .failed
            if o.paymentMethod != .cash, o.status == .pending || o.status == .confirmed {
                counts.compensations += 1
                emit(&o, DerivedEvent(type: "order.compensation_requested", time: e.time, tenantID: e.tenantID,
                                      causationID: e.eventID, correlationID: e.correlationID,
                                      data: [("order_id", .string(o.orderID)), ("actions", .strings(["cancel_order", "release_stock"])),
                                             ("reason", .string("payment_failed"))]), into: &out)
            }
        case .deliveryAssigned(let d):
            o.deliveryID = d.deliveryID
        default:
            guard let (from, to) = OrderTransitions.target(of: e.type), let current = o.status, from.contains(current) else {
                return emit(&o, reject(o, e, .invalidTransition, &counts), into: &out)
            }
            switch e.payload {
            case .orderConfirmed(let c):
                guard o.anyPaymentSucceeded || o.paymentMethod == .cash else {
                    return emit(&o, reject(o, e, .paymentNotSucceeded, &counts), into: &out)
                }
                o.vendorID = c.vendorID
            case .orderProcessingStarted:
                guard o.vendorID != nil else { return emit(&o, reject(o, e, .vendorUnknown, &counts), into: &out) }
            case .orderPickedUp(let p):
                o.deliveryID = p.deliveryID
            case .orderCompleted(let c):
                if let d = c.deliveryID { o.deliveryID = d }
            default:
                break
            }
            if e.type == .orderPickedUp, o.deliveryID == nil { return emit(&o, reject(o, e, .deliveryUnknown, &counts), into: &out) }
            move(&o, to: to, by: e, &counts, into: &out)
        }
    }

    /// Indices of the batch's events for retired orders (late: their state has left memory).
    public func retiredEvents(in batch: [Timestamped<Event>]) -> [Int] {
        guard !retired.isEmpty else { return [] }
        var out: [Int] = []
        for (i, r) in batch.enumerated() where Self.types.contains(r.value.type) {
            guard let order = r.value.orderID else { continue }
            let k = FastKey(r.value.tenantID, order)
            guard orders[k] == nil, retired.contains(k) else { continue }
            out.append(i)
        }
        return out
    }

    /// Retires what may (see ``retention``); called after the read-model rows were taken.
    mutating func retire() {
        guard retention else { return }
        for k in retiring.popDue(watermark) {
            guard let i = orders.index(forKey: k) else { continue }
            let o = orders.values[i]
            guard o.status?.isTerminal == true, o.pending.isEmpty, o.clock &+ retainEnded <= watermark, !dirty.contains(k) else { continue }
            retired.insert(k)
            orders.remove(at: i)
            if tracksEntries { changed.insert(k) }
        }
    }

    /// `orders` and `order_status_history` rows of the orders changed since the last call.
    public mutating func drainReadModel() -> [ReadModelRow] {
        defer { dirty.removeAll(); retire() }
        var out: [ReadModelRow] = []
        for k in dirty.sorted() {
            guard let i = orders.index(forKey: k), let status = orders.values[i].status else { continue } // not created (yet)
            let o = orders.values[i]
            orders.values[i].historyWritten = o.history.count
            out.append(ReadModelRow("orders", [
                ("tenant_id", .string(o.tenantID)), ("order_id", .string(o.orderID)), ("status", .string(status.rawValue)),
                ("payment_status", o.paymentStatus.map { .string($0.rawValue) } ?? .null),
                ("payment_method", o.paymentMethod.map { .string($0.rawValue) } ?? .null),
                ("customer_id", o.customerID.map { .string($0) } ?? .null), ("vendor_id", o.vendorID.map { .string($0) } ?? .null),
                ("delivery_id", o.deliveryID.map { .string($0) } ?? .null), ("total_cents", .int(o.totalCents)),
                ("created_at", o.createdAt.map { .time($0) } ?? .null),
                ("updated_at", .time(o.history.last?.at ?? o.createdAt ?? 0)),
            ]))
            for (i, h) in o.history.enumerated().dropFirst(o.historyWritten) {
                out.append(ReadModelRow("order_status_history", [
                    ("tenant_id", .string(o.tenantID)), ("order_id", .string(o.orderID)), ("seq", .int(Int64(i + 1))),
                    ("from_status", h.from.map { .string($0.rawValue) } ?? .null), ("to_status", .string(h.to.rawValue)),
                    ("event_id", .string(h.eventID)), ("at", .time(h.at)),
                ]))
            }
        }
        return out
    }
}

import Domain

// Snapshots of the domain operators: every field, in a deterministic order (sorted keys), with
// the events they still hold. Timers are rebuilt from the held events on restore.

extension OrderLifecycle {
    static func encode(_ o: Order, _ w: inout SnapshotWriter) {
        w.write(o.tenantID); w.write(o.orderID)
        w.write(o.status?.rawValue); w.write(o.paymentStatus?.rawValue); w.write(o.paymentMethod?.rawValue)
        w.write(o.anyPaymentSucceeded); w.write(o.vendorID); w.write(o.deliveryID); w.write(o.customerID)
        w.write(o.totalCents); w.write(o.createdAt); w.write(o.clock); w.write(o.seq)
        w.write(o.history.count)
        for h in o.history { w.write(h.from?.rawValue); w.write(h.to.rawValue); w.write(h.eventID); w.write(h.at) }
        w.write(o.pending.count)
        for p in o.pending { w.write(p) }
    }

    static func decodeOrder(_ r: inout SnapshotReader) throws -> Order {
        func status(_ s: String?) throws -> OrderStatus? {
            try s.map { guard let v = OrderStatus(rawValue: $0) else { throw SnapshotError.corrupt("status \($0)") }; return v }
        }
        var o = Order(tenantID: try r.readString(), orderID: try r.readString())
        o.status = try status(try r.readOptional(String.self))
        o.paymentStatus = try r.readOptional(String.self).flatMap(PaymentStatus.init(rawValue:))
        o.paymentMethod = try r.readOptional(String.self).flatMap(OrderPaymentMethod.init(rawValue:))
        o.anyPaymentSucceeded = try r.readBool()
        o.vendorID = try r.readOptional(String.self); o.deliveryID = try r.readOptional(String.self); o.customerID = try r.readOptional(String.self)
        o.totalCents = try r.readInt64(); o.createdAt = try r.readOptional(Int64.self); o.clock = try r.readInt64(); o.seq = try r.readInt()
        for _ in 0..<(try r.readInt()) {
            let from = try status(try r.readOptional(String.self))
            guard let to = try status(try r.readString()) else { throw SnapshotError.corrupt("history") }
            o.history.append(HistoryEntry(from: from, to: to, eventID: try r.readString(), at: try r.readInt64()))
        }
        o.historyWritten = o.history.count
        for _ in 0..<(try r.readInt()) { o.pending.append(try r.read(Timestamped<Event>.self)) }
        return o
    }

    /// Puts a restored order back with its timer and retirement.
    mutating func insertRestored(_ k: FastKey, _ order: Order) {
        var o = order
        if let first = o.pending.map(\.time).min() { timers.insert(KeyTimer(time: first, key: k)); o.armedAt = first }
        if retention, o.pending.isEmpty, o.status?.isTerminal == true { retiring.schedule(k, at: o.clock &+ retainEnded) }
        orders[k] = o
    }

    /// Every field, in sorted key order; the orders themselves only when they are not kept as
    /// entries (``tracksEntries``).
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(watermark); w.write(transitions); w.write(rejections); w.write(compensations)
        let keys = tracksEntries ? [] : orders.keys.sorted()
        w.write(keys.count)
        for k in keys {
            w.write(k.text)
            Self.encode(orders[k]!, &w)
        }
        if tracksEntries { RetiredKeys.encodeNone(to: &w) } else { retired.encode(to: &w) }
        return try SnapshotEnvelope.seal(operator: "order_lifecycle", w.bytes)
    }

    public mutating func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: "order_lifecycle", bytes))
        var fresh = OrderLifecycle(allowedLateness: allowedLateness, holdUnknownOrders: holdUnknownOrders)
        fresh.retention = retention
        fresh.retainEnded = retainEnded
        fresh.tracksEntries = tracksEntries
        fresh.watermark = try r.readInt64()
        fresh.transitions = try r.readInt(); fresh.rejections = try r.readInt(); fresh.compensations = try r.readInt()
        for _ in 0..<(try r.readInt()) {
            let k = FastKey(try r.readString())
            fresh.insertRestored(k, try Self.decodeOrder(&r))
        }
        fresh.retired = try RetiredKeys(from: &r)
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
        self = fresh
    }

    /// Incremental checkpoints: the orders changed since the last call, each as its key and
    /// bytes (nil: it left, retired), and the retired keys' new runs (``retiredPrefix``).
    public mutating func changedEntries() throws -> [StateEntry] {
        defer { changed.removeAll(keepingCapacity: true) }
        return try changed.sorted().map { k in
            guard let o = orders[k] else { return StateEntry(key: k.text, value: nil) }
            var w = SnapshotWriter()
            Self.encode(o, &w)
            return StateEntry(key: k.text, value: w.bytes)
        } + retired.changedSegments(prefix: Self.retiredPrefix)
    }

    /// Entry keys of the retired keys' runs: no `/`, so never an order's (`tenant/order`).
    static let retiredPrefix = "retired:"

    /// Incremental checkpoints: the orders kept as entries, after ``restore(_:)``.
    public mutating func restoreEntries(_ entries: [StateEntry]) throws {
        orders.reserveCapacity(orders.count + entries.count) // no rehashing while a million arrive
        for e in entries {
            guard let v = e.value else { continue }
            if RetiredKeys.isSegment(e.key, prefix: Self.retiredPrefix) {
                try retired.restoreSegment(key: e.key, prefix: Self.retiredPrefix, v)
                continue
            }
            var r = SnapshotReader(v)
            insertRestored(FastKey(e.key), try Self.decodeOrder(&r))
            guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes in order \(e.key)") }
        }
    }
}
extension QuotaTracker {
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(watermark); w.write(warnings); w.write(exceedances)
        let keys = tenants.keys.sorted()
        w.write(keys.count)
        for k in keys {
            let t = tenants[k]!
            w.write(k.text); w.write(t.tier.rawValue); w.write(t.zone.identifier)
            let api = t.api[t.apiHead...]
            w.write(api.count)
            for a in api { w.write(a.time); w.write(a.amount) }
            w.write(t.apiSum); w.write(t.monthStart); w.write(t.monthEnd); w.write(t.orders)
            let gauges = t.gauges.keys.sorted { $0.rawValue < $1.rawValue }
            w.write(gauges.count)
            for g in gauges { w.write(g.rawValue); w.write(t.gauges[g]!.value); w.write(t.gauges[g]!.at) }
            w.write(t.warned.map(\.rawValue).sorted().joined(separator: ","))
            w.write(t.exceeded.map(\.rawValue).sorted().joined(separator: ","))
            w.write(t.seq)
            w.write(t.pending.count)
            for p in t.pending.events { w.write(p) }
        }
        return try SnapshotEnvelope.seal(operator: "quota", w.bytes)
    }

    public mutating func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: "quota", bytes))
        func resource(_ s: String) throws -> QuotaResource {
            guard let v = QuotaResource(rawValue: s) else { throw SnapshotError.corrupt("resource \(s)") }
            return v
        }
        var fresh = QuotaTracker(softLimitPercent: softLimitPercent)
        fresh.watermark = try r.readInt64(); fresh.warnings = try r.readInt(); fresh.exceedances = try r.readInt()
        for _ in 0..<(try r.readInt()) {
            let k = try r.readString()
            var t = Tenant()
            guard let tier = Tier(rawValue: try r.readString()) else { throw SnapshotError.corrupt("tier") }
            t.tier = tier
            let zone = try r.readString()
            guard let z = TenantZone(identifier: zone) else { throw SnapshotError.corrupt("zone \(zone)") }
            t.zone = z
            for _ in 0..<(try r.readInt()) { t.api.append((try r.readInt64(), try r.readInt64())) }
            t.apiSum = try r.readInt64(); t.monthStart = try r.readInt64(); t.monthEnd = try r.readInt64(); t.orders = try r.readInt64()
            for _ in 0..<(try r.readInt()) { t.gauges[try resource(try r.readString())] = (try r.readInt64(), try r.readInt64()) }
            t.warned = Set(try r.readString().split(separator: ",").map { try resource(String($0)) })
            t.exceeded = Set(try r.readString().split(separator: ",").map { try resource(String($0)) })
            t.seq = try r.readInt()
            for _ in 0..<(try r.readInt()) { t.pending.append(try r.read(Timestamped<Event>.self)) }
            if let first = t.pending.events.map(\.time).min() { fresh.timers.insert(KeyTimer(time: first, key: FastKey(k))); t.armedAt = first }
            fresh.tenants[FastKey(k)] = t
        }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
        self = fresh
    }
}

extension DeliveryTracker {
    /// The envelope names: every held event in the snapshot, or (incremental) only those the
    /// watermark has passed but no advance has taken yet, the rest being in segments.
    static let fullName = "delivery_eta", headName = "delivery_eta/head", segmentName = "delivery_eta/segment"
    static let segmentVersion = 1

    /// Every held event in it unless incremental (``changedSegments()``) and not `full`.
    public func snapshot(full: Bool = true) throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(watermark); w.write(etaUpdates); w.write(deviations)
        let drivers = byDriver.keys.sorted()
        w.write(drivers.count)
        for d in drivers {
            w.write(d.text)
            w.write(byDriver[d]!.count)
            for x in byDriver[d]! {
                w.write(x.deliveryID); w.write(x.orderID); w.write(x.tenantID)
                w.write(x.pickup.lat); w.write(x.pickup.lng); w.write(x.dropoff.lat); w.write(x.dropoff.lng)
                w.write(x.status.rawValue); w.write(x.eta)
                w.write(x.lastLocation != nil)
                if let l = x.lastLocation { w.write(l.lat); w.write(l.lng) }
                w.write(x.arrivedPickup); w.write(x.arrivedDropoff); w.write(x.deviating); w.write(x.correlationID)
            }
        }
        if full || !segmented {
            // In event order (held events are kept in arrival order): a tracker restored from
            // a head and its segments then snapshots byte for byte like the one it came from.
            var held = pending.events
            held.sortInEventOrder()
            w.write(held.count)
            for p in held { w.write(p) }
            return try SnapshotEnvelope.seal(operator: Self.fullName, w.bytes)
        }
        // Held events the watermark has passed (held since its last advance; no segment keeps
        // them), then the next segment's number.
        let passed = pending.events.filter { $0.time <= watermark }
        w.write(passed.count)
        for p in passed { w.write(p) }
        w.write(nextSegment)
        return try SnapshotEnvelope.seal(operator: Self.headName, w.bytes)
    }

    /// The events held since the last call with a time the watermark has not reached, as one
    /// segment (keyed by its number), and the removal of every segment the watermark has passed
    /// (each of its events has been taken: an advance takes every held event at or before it).
    /// Taken at the same cut as ``snapshot(full:)``.
    public mutating func changedSegments() throws -> [StateEntry] {
        var out: [StateEntry] = []
        segments.removeAll { s in
            guard s.latest <= watermark else { return false }
            out.append(StateEntry(key: String(s.number), value: nil))
            return true
        }
        let ahead = unwritten.filter { $0.time > watermark }
        unwritten = []
        if let latest = ahead.lazy.map(\.time).max() {
            var w = SnapshotWriter()
            w.write(Self.segmentVersion)
            w.write(ahead.count)
            for e in ahead { w.write(e) }
            out.append(StateEntry(key: String(nextSegment), value: try SnapshotEnvelope.seal(operator: Self.segmentName, w.bytes)))
            segments.append((nextSegment, latest))
            nextSegment += 1
        }
        return out
    }

    /// After ``restore(_:)`` of an incremental snapshot: the segments of the same checkpoint; their
    /// events the watermark has not reached are held again.
    public mutating func restoreSegments(_ entries: [StateEntry]) throws {
        var decoded: [(number: Int, events: [Timestamped<Event>])] = []
        for e in entries {
            guard let number = Int(e.key), let bytes = e.value else { throw SnapshotError.corrupt("delivery segment \(e.key)") }
            var r = SnapshotReader(try SnapshotEnvelope.open(operator: Self.segmentName, bytes))
            let v = try r.readInt()
            guard v == Self.segmentVersion else { throw SnapshotError.unsupportedVersion(v) }
            let n = try r.readInt()
            guard n > 0 else { throw SnapshotError.corrupt("an empty delivery segment") }
            var events: [Timestamped<Event>] = []
            events.reserveCapacity(n)
            for _ in 0..<n { events.append(try r.read(Timestamped<Event>.self)) }
            guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes in a delivery segment") }
            decoded.append((number, events))
        }
        decoded.sort { $0.number < $1.number }
        segments = []
        for (number, events) in decoded {
            segments.append((number, events.lazy.map(\.time).max()!))
            for e in events where e.time > watermark { pending.append(e) }
            nextSegment = max(nextSegment, number + 1)
        }
    }

    public mutating func restore(_ bytes: [UInt8]) throws {
        let head = SnapshotEnvelope.operatorName(of: bytes) == Self.headName
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: head ? Self.headName : Self.fullName, bytes))
        var fresh = DeliveryTracker(settings: settings)
        fresh.segmented = segmented
        fresh.watermark = try r.readInt64(); fresh.etaUpdates = try r.readInt(); fresh.deviations = try r.readInt()
        for _ in 0..<(try r.readInt()) {
            let driver = try r.readString()
            for _ in 0..<(try r.readInt()) {
                var x = Delivery(deliveryID: try r.readString(), orderID: try r.readString(), driverID: driver, tenantID: try r.readString(),
                                 pickup: GeoPoint(lat: try r.readDouble(), lng: try r.readDouble()),
                                 dropoff: GeoPoint(lat: try r.readDouble(), lng: try r.readDouble()))
                guard let st = Status(rawValue: try r.readString()) else { throw SnapshotError.corrupt("status") }
                x.status = st
                x.eta = try r.readOptional(Int64.self)
                if try r.readBool() { x.lastLocation = GeoPoint(lat: try r.readDouble(), lng: try r.readDouble()) }
                x.arrivedPickup = try r.readBool(); x.arrivedDropoff = try r.readBool(); x.deviating = try r.readBool()
                x.correlationID = try r.readOptional(String.self)
                fresh.byDriver[FastKey(driver), default: []].append(x)
                fresh.driverOf[DeliveryTracker.key(x.tenantID, x.deliveryID)] = driver
            }
        }
        for _ in 0..<(try r.readInt()) { fresh.pending.append(try r.read(Timestamped<Event>.self)) }
        if head {
            fresh.nextSegment = try r.readInt()
        } else if segmented {
            fresh.unwritten = fresh.pending.events // a full snapshot: its events go out in the next segment
        }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
        self = fresh
    }
}

extension Rollups {
    private static func write(_ b: Bucket, _ w: inout SnapshotWriter) { w.write(b.tenant); w.write(b.granularity.rawValue); w.write(b.start) }
    private static func readBucket(_ r: inout SnapshotReader) throws -> Bucket {
        let t = try r.readString()
        guard let g = Granularity(rawValue: try r.readString()) else { throw SnapshotError.corrupt("granularity") }
        return Bucket(tenant: t, granularity: g, start: try r.readInt64())
    }
    private static func write(_ set: Set<FastKey>, _ w: inout SnapshotWriter) {
        w.write(set.count)
        for s in set.sorted() { w.write(s.text) }
    }
    private static func readSet(_ r: inout SnapshotReader) throws -> Set<FastKey> {
        var s = Set<FastKey>()
        for _ in 0..<(try r.readInt()) { s.insert(FastKey(try r.readString())) }
        return s
    }

    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(watermark)
        // Its own state machine when it runs one (taken status changes never wait across an
        // advance, so there is nothing else to keep).
        let life = try lifecycle?.snapshot() ?? []
        w.write(life.count); w.writeBytes(life)
        w.write(sales.count)
        for b in sales.keys.sorted() {
            let s = sales[b]!
            Self.write(b, &w)
            for v in [s.orders, s.grossRevenueCents, s.netRevenueCents, s.itemsSold, s.completedOrders, s.cancelledOrders, s.fulfillmentMillisSum, s.open] { w.write(v) }
            Self.write(s.customers, &w); Self.write(s.newCustomers, &w)
            w.write(s.frozen != nil)
            if let f = s.frozen { w.write(f.customers); w.write(f.newCustomers) }
        }
        w.write(products.count)
        for b in products.keys.sorted() {
            Self.write(b, &w)
            w.write(products[b]!.count)
            for (id, p) in products[b]!.sorted(by: { $0.key < $1.key }) {
                w.write(id.text); Self.write(p.orders, &w); w.write(p.quantity); w.write(p.revenueCents); w.write(p.name); w.write(p.nameAt); w.write(p.nameEventID)
            }
        }
        w.write(payments.count)
        for b in payments.keys.sorted() {
            Self.write(b, &w)
            w.write(payments[b]!.count)
            for (k, p) in payments[b]!.sorted(by: { $0.key < $1.key }) {
                w.write(k.text); w.write(p.initiated); w.write(p.succeeded); w.write(p.failed); w.write(p.succeededAmountCents)
            }
        }
        w.write(deliveries.count)
        for b in deliveries.keys.sorted() { Self.write(b, &w); w.write(deliveries[b]!.completed); w.write(deliveries[b]!.deliveryMillisSum) }
        w.write(messages.count)
        for b in messages.keys.sorted() {
            Self.write(b, &w)
            w.write(messages[b]!.count)
            for (k, n) in messages[b]!.sorted(by: { $0.key < $1.key }) { w.write(k.text); w.write(n) }
        }
        w.write(tenants.count)
        for k in tenants.keys.sorted() { w.write(k.text); w.write(tenants[k]!.zone.identifier) }
        let factKeys = tracksEntries ? [] : orders.keys.sorted()
        w.write(factKeys.count)
        for k in factKeys { w.write(k.text); Self.encode(orders[k]!, &w) }
        let firstKeys = tracksEntries ? [] : firstOrder.keys.sorted()
        w.write(firstKeys.count)
        for k in firstKeys { w.write(Self.firstOrderKey(k)); w.write(firstOrder[k]!) }
        w.write(paymentKind.count)
        for k in paymentKind.keys.sorted() { w.write(k.text); w.write(paymentKind[k]!.text) }
        w.write(assignedAt.count)
        for k in assignedAt.keys.sorted() { w.write(k.text); w.write(assignedAt[k]!) }
        w.write(pending.count)
        for p in pending.events { w.write(p) }
        if tracksEntries { RetiredKeys.encodeNone(to: &w) } else { retiredOrders.encode(to: &w) }
        orderRetiring.encode(to: &w); paymentRetiring.encode(to: &w); assignmentRetiring.encode(to: &w)
        return try SnapshotEnvelope.seal(operator: "rollup", w.bytes)
    }

    public mutating func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: "rollup", bytes))
        var fresh = Rollups(granularities: granularities, allowedLateness: allowedLateness, ownStateMachine: lifecycle != nil)
        fresh.fixedZone = fixedZone
        fresh.tracksEntries = tracksEntries
        fresh.retention = retention
        fresh.lifecycle?.retention = retention
        fresh.watermark = try r.readInt64()
        let life = try r.readBytes(count: try r.readInt())
        guard life.isEmpty == (lifecycle == nil) else {
            throw SnapshotError.corrupt(lifecycle == nil ? "the snapshot has its own state machine; this rollup takes statuses" : "the snapshot has no state machine; this rollup runs its own")
        }
        try fresh.lifecycle?.restore(life)
        for _ in 0..<(try r.readInt()) {
            let b = try Self.readBucket(&r)
            var s = Sales()
            s.orders = try r.readInt64(); s.grossRevenueCents = try r.readInt64(); s.netRevenueCents = try r.readInt64()
            s.itemsSold = try r.readInt64(); s.completedOrders = try r.readInt64(); s.cancelledOrders = try r.readInt64()
            s.fulfillmentMillisSum = try r.readInt64(); s.open = try r.readInt64()
            s.customers = try Self.readSet(&r); s.newCustomers = try Self.readSet(&r)
            if try r.readBool() { s.frozen = (try r.readInt64(), try r.readInt64()) }
            fresh.sales[b] = s
        }
        for _ in 0..<(try r.readInt()) {
            let b = try Self.readBucket(&r)
            var m: [FastKey: Product] = [:]
            for _ in 0..<(try r.readInt()) {
                let id = try r.readString()
                var p = Product()
                p.orders = try Self.readSet(&r); p.quantity = try r.readInt64(); p.revenueCents = try r.readInt64()
                p.name = try r.readOptional(String.self); p.nameAt = try r.readInt64(); p.nameEventID = try r.readString()
                m[FastKey(id)] = p
            }
            fresh.products[b] = m
        }
        for _ in 0..<(try r.readInt()) {
            let b = try Self.readBucket(&r)
            var m: [FastKey: Payments] = [:]
            for _ in 0..<(try r.readInt()) {
                let k = try r.readString()
                m[FastKey(k)] = Payments(initiated: try r.readInt64(), succeeded: try r.readInt64(), failed: try r.readInt64(), succeededAmountCents: try r.readInt64())
            }
            fresh.payments[b] = m
        }
        for _ in 0..<(try r.readInt()) {
            let b = try Self.readBucket(&r)
            fresh.deliveries[b] = Deliveries(completed: try r.readInt64(), deliveryMillisSum: try r.readInt64())
        }
        for _ in 0..<(try r.readInt()) {
            let b = try Self.readBucket(&r)
            var m: [FastKey: Int64] = [:]
            for _ in 0..<(try r.readInt()) { m[FastKey(try r.readString())] = try r.readInt64() }
            fresh.messages[b] = m
        }
        for _ in 0..<(try r.readInt()) {
            let k = try r.readString(), id = try r.readString()
            guard let z = TenantZone(identifier: id) else { throw SnapshotError.corrupt("zone \(id)") }
            fresh.tenants[FastKey(k)] = Tenant(zone: z, key: FastKey(k))
        }
        for _ in 0..<(try r.readInt()) {
            let k = try r.readString()
            fresh.orders[FastKey(k)] = try Self.decodeFacts(&r)
        }
        for _ in 0..<(try r.readInt()) { fresh.keepFirstOrder(Self.firstOrderHash(try r.readString()), try r.readInt64()) }
        for _ in 0..<(try r.readInt()) { let k = try r.readString(); fresh.paymentKind[FastKey(k)] = FastKey(try r.readString()) }
        for _ in 0..<(try r.readInt()) { let k = try r.readString(); fresh.assignedAt[FastKey(k)] = try r.readInt64() }
        for _ in 0..<(try r.readInt()) { fresh.pending.append(try r.read(Timestamped<Event>.self)) }
        fresh.retiredOrders = try RetiredKeys(from: &r)
        fresh.orderRetiring = try RetirementQueue(from: &r)
        fresh.paymentRetiring = try RetirementQueue(from: &r)
        fresh.assignmentRetiring = try RetirementQueue(from: &r)
        if fresh.retention {
            // Every bucket held closes when it did before (each scheduled once).
            for b in Set(fresh.sales.keys).union(fresh.products.keys).union(fresh.payments.keys).union(fresh.deliveries.keys).union(fresh.messages.keys) {
                fresh.scheduleCloseOnce(b)
            }
        }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
        self = fresh
    }
}

extension Rollups {
    static func encode(_ o: OrderFacts, _ w: inout SnapshotWriter) {
        w.write(o.created); w.write(o.customer); w.write(o.total); w.write(o.tenant.text)
    }

    static func decodeFacts(_ r: inout SnapshotReader) throws -> OrderFacts {
        OrderFacts(created: try r.readInt64(), customer: try r.readString(), total: try r.readInt64(), tenant: FastKey(try r.readString()))
    }

    /// A first order's key in snapshots and entries: `#` and its stable hash in hex. Checkpoints
    /// from before the hash hold the `tenant/customer` text instead; both read back
    /// (``firstOrderHash(_:)``).
    static func firstOrderKey(_ h: UInt64) -> String {
        let hex = String(h, radix: 16)
        return "#" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func firstOrderHash(_ key: String) -> UInt64 {
        // `tenant/customer` always holds a `/`; `#` and 16 hex digits never do.
        if key.utf8.count == 17, key.hasPrefix("#"), let h = UInt64(key.dropFirst(), radix: 16) { return h }
        return FastKey(key).stableHash
    }

    /// Restores a first order; one restored twice (an older checkpoint's text row beside a newer
    /// hash row of the same customer) keeps the earlier time, as the operator would.
    mutating func keepFirstOrder(_ h: UInt64, _ time: EpochMillis) {
        if let t = firstOrder[h], t <= time { return }
        firstOrder[h] = time
    }

    /// Incremental checkpoints: order facts (`f <key>`) and first orders (`c <key>`) changed
    /// since the last call (nil value: gone), and the retired orders' new runs (`r <id>`).
    public mutating func changedEntries() throws -> [StateEntry] {
        defer { changedFacts.removeAll(keepingCapacity: true); changedFirst.removeAll(keepingCapacity: true) }
        var out: [StateEntry] = []
        out.reserveCapacity(changedFacts.count + changedFirst.count)
        for k in changedFacts.sorted() {
            guard let o = orders[k] else { out.append(StateEntry(key: "f " + k.text, value: nil)); continue }
            var w = SnapshotWriter()
            Self.encode(o, &w)
            out.append(StateEntry(key: "f " + k.text, value: w.bytes))
        }
        for k in changedFirst.sorted() {
            var w = SnapshotWriter()
            w.write(firstOrder[k] ?? .min)
            out.append(StateEntry(key: "c " + Self.firstOrderKey(k), value: firstOrder[k] == nil ? nil : w.bytes))
        }
        out += try retiredOrders.changedSegments(prefix: "r ")
        return out
    }

    /// Incremental checkpoints: the entries, after ``restore(_:)``.
    public mutating func restoreEntries(_ entries: [StateEntry]) throws {
        // Room for the order facts (`f …`) and the first orders (the rest), so a million arriving
        // do not rehash the tables as they grow.
        var facts = 0
        for e in entries where e.key.utf8.first == UInt8(ascii: "f") { facts += 1 }
        orders.reserveCapacity(orders.count + facts)
        firstOrder.reserveCapacity(firstOrder.count + entries.count - facts)
        for e in entries {
            guard let v = e.value else { continue }
            if RetiredKeys.isSegment(e.key, prefix: "r ") {
                try retiredOrders.restoreSegment(key: e.key, prefix: "r ", v)
                continue
            }
            var r = SnapshotReader(v)
            if e.key.hasPrefix("f ") {
                orders[FastKey(String(e.key.dropFirst(2)))] = try Self.decodeFacts(&r)
            } else if e.key.hasPrefix("c ") {
                keepFirstOrder(Self.firstOrderHash(String(e.key.dropFirst(2))), try r.readInt64())
            } else {
                throw SnapshotError.corrupt("rollup entry \(e.key)")
            }
            guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes in \(e.key)") }
        }
    }
}

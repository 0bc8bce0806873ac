import Domain
import HeapModule

/// Per-tenant quota tracking (CONTRACT §2.3): tier from tenant events (unknown tenants are
/// basic); api_calls as Σ `usage.recorded` over a sliding hour of event time; orders as the count
/// of `order.created` in the calendar month of the tenant's timezone; products, storage_gb and
/// concurrent_users as gauges (the latest amount). Soft limit = 80 % of the hard limit.
///
/// Usage reaching the soft limit emits `quota.warning`, going over the hard limit
/// `quota.exceeded` {resource, used, limit, tier, window_start}; each once per episode — again only
/// after usage fell back under that limit. A tier change re-evaluates every resource at once.
/// Per tenant, events are applied in event-time order (ties: `event_id`) once the watermark
/// passes them, so the alerts do not depend on arrival order, batching or partitioning.
public struct QuotaTracker {
    /// Amounts in thousandths, so sums over the sliding hour are exact.
    typealias Milli = Int64

    struct Tenant {
        var tier: Tier = .basic
        var zone = TenantZone.johannesburg
        var api: [(time: EpochMillis, amount: Milli)] = []
        var apiHead = 0
        var apiSum: Milli = 0
        var monthEnd: EpochMillis = .min
        var monthStart: EpochMillis = .min
        var orders: Milli = 0
        var gauges: [QuotaResource: (value: Milli, at: EpochMillis)] = [:]
        /// Resources whose soft / hard limit was crossed in the current episode.
        var warned: Set<QuotaResource> = []
        var exceeded: Set<QuotaResource> = []
        var pending = HeldEvents()
        var seq = 0
        /// When this tenant's live timer fires (one per tenant; others in the heap are stale).
        var armedAt = EpochMillis.max
    }

    public static let hour: Int64 = 3_600_000
    var tenants: [FastKey: Tenant] = [:]
    /// Tenants changed since the last ``drainReadModel()``.
    var dirty: Set<FastKey> = []
    var timers = Heap<KeyTimer>()
    public internal(set) var watermark = WatermarkTracker.start
    public internal(set) var warnings = 0, exceedances = 0

    /// The soft limit as a percentage of the hard one (the pipeline's `quota.soft_limit_percent`;
    /// CONTRACT §2.3: 80).
    public let softLimitPercent: Int64

    public init(softLimitPercent: Int64 = QuotaResource.softLimitPercent) { self.softLimitPercent = softLimitPercent }

    /// Current usage of a tenant's resource (thousandths), as the read model shows it.
    public func used(_ tenant: String, _ r: QuotaResource) -> Double? {
        guard let t = tenants[FastKey(tenant)] else { return nil }
        switch r {
        case .apiCalls: return Double(t.apiSum) / 1000
        case .orders: return Double(t.orders) / 1000
        default: return t.gauges[r].map { Double($0.value) / 1000 }
        }
    }

    /// The tier the tracker holds for a tenant.
    public func tier(_ tenant: String) -> Tier? { tenants[FastKey(tenant)]?.tier }

    static let types: EventTypeSet = [.usageRecorded, .orderCreated, .tenantCreated, .tenantTierChanged]

    /// Buffers the events quotas depend on.
    public mutating func process(_ batch: [Timestamped<Event>]) {
        batch.forEach(of: Self.types) { r in
            let key = FastKey(r.value.tenantID)
            // One hash lookup, the tenant changed in place (through `Optional` it was copied, and
            // each append copied its held events).
            let earlier = inPlace(&tenants[key, default: Tenant()]) { t in
                t.pending.append(r)
                guard r.time < t.armedAt else { return false }
                t.armedAt = r.time
                return true
            }
            if earlier { timers.insert(KeyTimer(time: r.time, key: key)) }
        }
    }

    /// Applies what the watermark has passed; returns the alerts in (time, tenant, sequence) order.
    public mutating func advance(to wm: EpochMillis) -> [DerivedEvent] {
        guard wm > watermark else { return [] }
        watermark = wm
        var out: [Decision] = []
        while let t = timers.min, t.time <= wm {
            _ = timers.removeMin()
            // Taken out of the table while it changes, so its arrays are not copied on write.
            // Most pops find the key's events already applied by an earlier timer: look first.
            let key = t.key, tenant = key.text
            guard tenants[key]?.armedAt == t.time, var s = tenants.removeValue(forKey: key) else { continue } // stale
            defer { tenants[key] = s }
            dirty.insert(key)
            s.pending.takeDue(wm).drainPrefetching { r in
                for d in apply(r.value, to: &s) {
                    s.seq += 1
                    out.append(Decision(time: r.time, key: tenant, seq: s.seq, event: d))
                }
            }
            s.armedAt = s.pending.first?.time ?? .max
            if let next = s.pending.first { timers.insert(KeyTimer(time: next.time, key: t.key)) }
        }
        return out.inOrder()
    }

    static func milli(_ x: Double) -> Milli { Milli((x * 1000).rounded()) }

    static func text(_ m: Milli) -> OutputValue {
        if m % 1000 == 0 { return .number(String(m / 1000)) }
        var frac = String(abs(m % 1000))
        frac = String(repeating: "0", count: 3 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return .number("\(m / 1000).\(frac)")
    }

    private mutating func apply(_ e: Event, to s: inout Tenant) -> [DerivedEvent] {
        var out: [DerivedEvent] = []
        expireAPI(&s, at: e.time)
        switch e.payload {
        case .tenantCreated(let c):
            s.tier = c.tier
            s.zone = TenantZone(identifier: c.timezone) ?? .johannesburg
            for r in QuotaResource.allCases { check(r, &s, e, &out) }
        case .tenantTierChanged(let c):
            s.tier = c.tier
            for r in QuotaResource.allCases { check(r, &s, e, &out) }
        case .orderCreated:
            if e.time >= s.monthEnd || e.time < s.monthStart {
                s.monthStart = s.zone.monthStart(e.time)
                s.monthEnd = s.zone.nextMonthStart(e.time)
                s.orders = 0
                check(.orders, &s, e, &out) // a new month re-arms the episode
            }
            s.orders += 1000
            check(.orders, &s, e, &out)
        case .usageRecorded(let u):
            let amount = Self.milli(u.amount)
            if u.resource == .apiCalls {
                s.api.append((e.time, amount))
                s.apiSum += amount
            } else {
                s.gauges[u.resource] = (amount, e.time)
            }
            check(u.resource, &s, e, &out)
        default:
            break
        }
        return out
    }

    /// Drops api-call records older than an hour before `t` (the sliding window is (t − 1 h, t]).
    private func expireAPI(_ s: inout Tenant, at t: EpochMillis) {
        while s.apiHead < s.api.count, s.api[s.apiHead].time <= t - Self.hour {
            s.apiSum -= s.api[s.apiHead].amount
            s.apiHead += 1
        }
        if s.apiHead > 1024 && s.apiHead * 2 > s.api.count {
            s.api.removeFirst(s.apiHead)
            s.apiHead = 0
        }
    }

    private mutating func check(_ r: QuotaResource, _ s: inout Tenant, _ cause: Event, _ out: inout [DerivedEvent]) {
        let used: Milli
        let windowStart: OutputValue
        switch r {
        case .apiCalls:
            used = s.apiSum
            windowStart = .time(cause.time - Self.hour)
        case .orders:
            used = s.orders
            windowStart = s.monthStart == .min ? .null : .time(s.monthStart)
        default:
            guard let g = s.gauges[r] else { return }
            used = g.value
            windowStart = .time(g.at)
        }
        guard let limit = s.tier.limit(r) else {
            s.warned.remove(r)
            s.exceeded.remove(r)
            return
        }
        let hard = limit * 1000
        let soft = limit * softLimitPercent * 10
        if used < soft { s.warned.remove(r) }
        if used <= hard { s.exceeded.remove(r) }
        func alert(_ type: String) -> DerivedEvent {
            DerivedEvent(type: type, time: cause.time, tenantID: cause.tenantID, causationID: cause.eventID,
                         correlationID: cause.correlationID,
                         data: [("resource", .string(r.rawValue)), ("used", Self.text(used)), ("limit", .int(limit)),
                                ("tier", .string(s.tier.rawValue)), ("window_start", windowStart)])
        }
        if used >= soft, !s.warned.contains(r) {
            s.warned.insert(r)
            warnings += 1
            out.append(alert("quota.warning"))
        }
        if used > hard, !s.exceeded.contains(r) {
            s.exceeded.insert(r)
            exceedances += 1
            out.append(alert("quota.exceeded"))
        }
    }

    /// `tenants` and `tenant_usage` rows of the tenants changed since the last call.
    public mutating func drainReadModel() -> [ReadModelRow] {
        defer { dirty.removeAll() }
        var out: [ReadModelRow] = []
        for k in dirty.sorted() {
            guard let t = tenants[k] else { continue }
            out.append(ReadModelRow("tenants", [("tenant_id", .string(k.text)), ("tier", .string(t.tier.rawValue)),
                                                ("timezone", .string(t.zone.identifier))]))
            for r in QuotaResource.allCases {
                let used: Milli
                switch r {
                case .apiCalls: used = t.apiSum
                case .orders: used = t.orders
                default: used = t.gauges[r]?.value ?? 0
                }
                let status = t.exceeded.contains(r) ? "exceeded" : t.warned.contains(r) ? "warning" : "ok"
                out.append(ReadModelRow("tenant_usage", [("tenant_id", .string(k.text)), ("resource", .string(r.rawValue)),
                                                         ("used", Self.text(used)), ("limit", t.tier.limit(r).map { .int($0) } ?? .null),
                                                         ("status", .string(status))]))
            }
        }
        return out
    }
}

import Domain

/// A request the read side refuses: 400 (bad parameters) or 404 (nothing of this tenant's).
public struct QueryError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case badRequest, notFound }
    public var kind: Kind
    public var message: String
    public var description: String { message }
    public static func bad(_ m: String) -> QueryError { QueryError(kind: .badRequest, message: m) }
    public static func notFound(_ m: String) -> QueryError { QueryError(kind: .notFound, message: m) }
}

/// The dashboard of CONTRACT §3.2 over `[from, to)`, from a tenant's committed rollups.
public enum Dashboard {
    /// At most this many days in a range.
    public static let maxDays: Int64 = 400

    /// Parses and checks the parameters: RFC 3339 times aligned to the granularity in the
    /// tenant's timezone, `from < to`, at most 400 days.
    public static func range(from: String?, to: String?, granularity: String?, zone: TenantZone) throws
        -> (from: Int64, to: Int64, granularity: Granularity) {
        guard let g = Granularity(rawValue: granularity ?? "day") else {
            throw QueryError.bad("granularity must be hour or day")
        }
        guard let fromText = from, let f = RFC3339.parse(fromText) else { throw QueryError.bad("from must be an RFC 3339 time, e.g. 2026-03-01T00:00:00+02:00") }
        guard let toText = to, let t = RFC3339.parse(toText) else { throw QueryError.bad("to must be an RFC 3339 time, e.g. 2026-03-08T00:00:00+02:00") }
        guard f < t else { throw QueryError.bad("from must be before to") }
        guard t - f <= maxDays * 86_400_000 + 3_600_000 else { throw QueryError.bad("the range is longer than \(maxDays) days") }
        var z = zone
        for (name, v) in [("from", f), ("to", t)] where start(v, g, &z) != v {
            throw QueryError.bad("\(name) is not aligned to a \(g.rawValue) in the tenant's timezone (\(zone.identifier))")
        }
        return (f, t, g)
    }

    static func start(_ t: Int64, _ g: Granularity, _ z: inout TenantZone) -> Int64 {
        g == .hour ? z.hourStart(t) : z.dayStart(t)
    }

    /// The bucket after the one starting at `b` (days are 23 to 25 hours long around DST).
    static func next(_ b: Int64, _ g: Granularity, _ z: inout TenantZone) -> Int64 {
        g == .hour ? z.hourStart(b + 3_600_000) : z.dayStart(b + 25 * 3_600_000)
    }

    /// The bucket before the one starting at `b`.
    static func previous(_ b: Int64, _ g: Granularity, _ z: inout TenantZone) -> Int64 {
        g == .hour ? z.hourStart(b - 1) : z.dayStart(b - 1)
    }

    /// Sums over buckets `[i0, i1)` of a series.
    struct Totals {
        var sales = TenantRollups.Sales()
        var uniqueCustomers: Int64 = 0
    }

    static func totals(_ r: TenantRollups, _ g: Granularity, from: Int64, to: Int64, scratch: inout [UInt64]) -> Totals {
        var t = Totals()
        let s = r.series(g)
        let i0 = s.index(from), i1 = s.index(to)
        guard i0 < i1 else { return t }
        for i in i0..<i1 {
            let x = s.sales[i]
            t.sales.orders += x.orders; t.sales.gross += x.gross; t.sales.net += x.net; t.sales.items += x.items
            t.sales.completed += x.completed; t.sales.cancelled += x.cancelled
            t.sales.fulfillmentMillis += x.fulfillmentMillis; t.sales.newCustomers += x.newCustomers
        }
        t.uniqueCustomers = uniqueCustomers(r, g, from: from, to: to, scratch: &scratch)
        return t
    }

    /// Exact unique customers of `[from, to)`: the union of the buckets' sets as a bitset over
    /// interned ids — whole local months from their precomputed bitsets, whole days from the day
    /// buckets, the hours at either end from the hour buckets.
    static func uniqueCustomers(_ r: TenantRollups, _ g: Granularity, from: Int64, to: Int64, scratch: inout [UInt64]) -> Int64 {
        let words = (r.names.customers.count + 63) / 64
        if scratch.count < words { scratch = [UInt64](repeating: 0, count: words) } else { for w in 0..<words { scratch[w] = 0 } }
        var z = r.zone
        scratch.withUnsafeMutableBufferPointer { bits in
            func add(_ s: TenantRollups.Series, _ a: Int64, _ b: Int64) {
                guard a < b else { return }
                var i = s.index(a)
                while i < s.starts.count && s.starts[i] < b {
                    for c in s.customers[i] { bits[Int(c) >> 6] |= UInt64(1) << UInt64(c & 63) }
                    i += 1
                }
            }
            // Whole days inside the range.
            var d0 = from, d1 = to
            if g == .hour {
                d0 = z.dayStart(from) == from ? from : z.dayStart(z.dayStart(from) + 25 * 3_600_000)
                d1 = z.dayStart(to)
                if d0 >= d1 { add(r.hour, from, to); return }
                add(r.hour, from, d0)
                add(r.hour, d1, to)
            }
            // Whole months inside [d0, d1) from their bitsets; the rest day by day.
            var m = 0
            while m < r.months.starts.count && r.months.starts[m] < d0 { m += 1 }
            var cursor = d0
            while m < r.months.starts.count {
                let start = r.months.starts[m]
                let end = z.nextMonthStart(start)
                if end > d1 { break }
                add(r.day, cursor, start)
                let mb = r.months.bits[m]
                for w in 0..<mb.count { bits[w] |= mb[w] }
                cursor = end
                m += 1
            }
            add(r.day, cursor, d1)
        }
        var n = 0
        for w in 0..<words { n += scratch[w].nonzeroBitCount }
        return Int64(n)
    }

    /// Half-even rounding of `n / d` to an integer (CONTRACT §2.5: average order value).
    public static func halfEven(_ n: Int64, _ d: Int64) -> Int64 {
        let q = n / d, r = n % d
        if 2 * r > d || (2 * r == d && q % 2 != 0) { return q + 1 }
        return q
    }

    static func growth(_ cur: Int64, _ prev: Int64) -> JSONText {
        prev == 0 ? .null : .double(Double(cur - prev) / Double(prev))
    }

    /// A time at the edge, in the tenant's timezone.
    public static func format(_ t: Int64, _ z: inout TenantZone) -> String {
        RFC3339.format(t, offsetSeconds: Int(z.offsetMillis(at: t) / 1000))
    }

    /// The dashboard JSON (field order as CONTRACT §3.2).
    public static func answer(_ r: TenantRollups, from: Int64, to: Int64, granularity g: Granularity) -> JSONText {
        var z = r.zone
        let s = r.series(g)
        let i0 = s.index(from), i1 = s.index(to)
        // The previous period: as many buckets, just before `from`.
        var count = 0
        var b = from
        while b < to { b = next(b, g, &z); count += 1 }
        var prevFrom = from
        for _ in 0..<count { prevFrom = previous(prevFrom, g, &z) }
        var scratch: [UInt64] = []
        let cur = totals(r, g, from: from, to: to, scratch: &scratch)
        let prev = totals(r, g, from: prevFrom, to: from, scratch: &scratch)
        let x = cur.sales

        // One entry per bucket of [from, to), zeros included.
        var series: [JSONText] = []
        series.reserveCapacity(count)
        var i = i0
        b = from
        while b < to {
            while i < i1 && s.starts[i] < b { i += 1 }
            let hit = i < i1 && s.starts[i] == b
            series.append(.object([("bucket_start", .string(format(b, &z))),
                                   ("orders", .int(hit ? s.sales[i].orders : 0)),
                                   ("gross_revenue_cents", .int(hit ? s.sales[i].gross : 0))]))
            b = next(b, g, &z)
        }

        // Products: Σ per product; the name from the latest bucket that has one.
        var products: [Int32: (name: String?, orders: Int64, quantity: Int64, revenue: Int64)] = [:]
        var payments: [Int32: TenantRollups.Payment] = [:]
        var completed: Int64 = 0, deliveryMillis: Int64 = 0
        var messages: [Int32: Int64] = [:]
        if i0 < i1 {
            for k in i0..<i1 {
                for p in s.products[k] {
                    var e = products[p.id] ?? (nil, 0, 0, 0)
                    e.orders += p.orders; e.quantity += p.quantity; e.revenue += p.revenue
                    if let n = p.name { e.name = n }
                    products[p.id] = e
                }
                for p in s.payments[k] {
                    var e = payments[p.kind] ?? TenantRollups.Payment(kind: p.kind, initiated: 0, succeeded: 0, failed: 0, amount: 0)
                    e.initiated += p.initiated; e.succeeded += p.succeeded; e.failed += p.failed; e.amount += p.amount
                    payments[p.kind] = e
                }
                completed += s.deliveries[k].completed
                deliveryMillis += s.deliveries[k].millis
                for m in s.messages[k] { messages[m.type, default: 0] += m.count }
            }
        }
        let top = products.map { (id: r.names.products[Int($0.key)], v: $0.value) }
            .sorted { $0.v.revenue != $1.v.revenue ? $0.v.revenue > $1.v.revenue : $0.id < $1.id }
            .prefix(10)
        let pays = payments.values.map { (kind: r.names.kinds[Int($0.kind)], p: $0) }
            .sorted { ($0.kind.gateway, $0.kind.method) < ($1.kind.gateway, $1.kind.method) }

        return .object([
            ("tenant_id", .string(r.tenant)),
            ("from", .string(format(from, &z))),
            ("to", .string(format(to, &z))),
            ("granularity", .string(g.rawValue)),
            ("sales", .object([
                ("orders", .int(x.orders)),
                ("gross_revenue_cents", .int(x.gross)),
                ("net_revenue_cents", .int(x.net)),
                ("avg_order_value_cents", x.orders == 0 ? .null : .int(halfEven(x.gross, x.orders))),
                ("unique_customers", .int(cur.uniqueCustomers)),
                ("new_customers", .int(x.newCustomers)),
                ("items_sold", .int(x.items)),
                ("completed_orders", .int(x.completed)),
                ("cancelled_orders", .int(x.cancelled)),
                ("completion_rate", .ratio(x.completed, x.orders)),
                ("avg_fulfillment_seconds", x.completed == 0 ? .null : .double(Double(x.fulfillmentMillis) / 1000 / Double(x.completed))),
                ("growth", .object([
                    ("orders", growth(x.orders, prev.sales.orders)),
                    ("revenue", growth(x.gross, prev.sales.gross)),
                    ("customers", growth(cur.uniqueCustomers, prev.uniqueCustomers)),
                ])),
            ])),
            ("time_series", .array(series)),
            ("top_products", .array(top.map { p in
                .object([("product_id", .string(p.id)), ("name", p.v.name.map { .string($0) } ?? .null),
                         ("orders", .int(p.v.orders)), ("quantity", .int(p.v.quantity)), ("revenue_cents", .int(p.v.revenue))])
            })),
            ("payments", .array(pays.map { e in
                .object([("gateway", .string(e.kind.gateway)), ("method", .string(e.kind.method)),
                         ("initiated", .int(e.p.initiated)), ("succeeded", .int(e.p.succeeded)), ("failed", .int(e.p.failed)),
                         ("success_rate", .ratio(e.p.succeeded, e.p.succeeded + e.p.failed)),
                         ("succeeded_amount_cents", .int(e.p.amount))])
            })),
            ("deliveries", .object([
                ("completed", .int(completed)),
                ("avg_delivery_seconds", completed == 0 ? .null : .double(Double(deliveryMillis) / 1000 / Double(completed))),
            ])),
            ("messages", .object(messages.map { (r.names.types[Int($0.key)], $0.value) }.sorted { $0.0 < $1.0 }
                .map { ($0.0, JSONText.int($0.1)) })),
        ])
    }
}

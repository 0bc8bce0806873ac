import Domain
import Postgres

/// Dashboard granularity (CONTRACT §3.2).
public enum Granularity: String, CaseIterable, Sendable {
    case hour, day
}

/// One tenant's committed rollups (CONTRACT §2.5) in memory, column by column, per granularity:
/// sums per bucket, and each bucket's customers as interned ids, so a dashboard over any aligned
/// range sums a few arrays and unions small integer sets instead of scanning orders. Immutable
/// once built: a refresh builds a new one (the buckets before the earliest changed one are shared
/// by copy-on-write arrays), so requests read it without locks.
public final class TenantRollups: Sendable {
    public struct Sales: Sendable {
        public var orders: Int64 = 0, gross: Int64 = 0, net: Int64 = 0, items: Int64 = 0
        public var completed: Int64 = 0, cancelled: Int64 = 0, fulfillmentMillis: Int64 = 0, newCustomers: Int64 = 0
    }
    public struct Product: Sendable {
        public var id: Int32
        public var name: String?
        public var orders: Int64, quantity: Int64, revenue: Int64
    }
    public struct Payment: Sendable {
        public var kind: Int32
        public var initiated: Int64, succeeded: Int64, failed: Int64, amount: Int64
    }

    /// Buckets of one granularity, sorted by start (UTC ms); every column has one entry per bucket.
    public struct Series: Sendable {
        public var starts: [Int64] = []
        public var sales: [Sales] = []
        public var customers: [[Int32]] = []
        public var products: [[Product]] = []
        public var payments: [[Payment]] = []
        public var deliveries: [(completed: Int64, millis: Int64)] = []
        public var messages: [[(type: Int32, count: Int64)]] = []

        /// The first bucket starting at or after `t`.
        public func index(_ t: Int64) -> Int {
            var lo = 0, hi = starts.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if starts[mid] < t { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }

        /// The buckets before `t` (kept by a refresh from `t`).
        func prefix(before t: Int64) -> Series {
            let n = index(t)
            var s = Series()
            s.starts = Array(starts[..<n]); s.sales = Array(sales[..<n]); s.customers = Array(customers[..<n])
            s.products = Array(products[..<n]); s.payments = Array(payments[..<n]); s.deliveries = Array(deliveries[..<n])
            s.messages = Array(messages[..<n])
            return s
        }
    }

    /// Interned names: customers, products, payment kinds (gateway, method), message types.
    public struct Names: Sendable {
        public var customers: [String: Int32] = [:]
        public var products: [String] = [], productIndex: [String: Int32] = [:]
        public var kinds: [(gateway: String, method: String)] = [], kindIndex: [String: Int32] = [:]
        public var types: [String] = [], typeIndex: [String: Int32] = [:]

        mutating func customer(_ c: String) -> Int32 {
            if let i = customers[c] { return i }
            let i = Int32(customers.count)
            customers[c] = i
            return i
        }
        mutating func product(_ p: String) -> Int32 {
            if let i = productIndex[p] { return i }
            products.append(p)
            productIndex[p] = Int32(products.count - 1)
            return Int32(products.count - 1)
        }
        mutating func kind(_ g: String, _ m: String) -> Int32 {
            let k = g + "/" + m
            if let i = kindIndex[k] { return i }
            kinds.append((g, m))
            kindIndex[k] = Int32(kinds.count - 1)
            return Int32(kinds.count - 1)
        }
        mutating func type(_ t: String) -> Int32 {
            if let i = typeIndex[t] { return i }
            types.append(t)
            typeIndex[t] = Int32(types.count - 1)
            return Int32(types.count - 1)
        }
    }

    /// Each local calendar month's customers (the union of its day buckets) as a bitset over
    /// interned ids: a range's whole months cost one OR of a few words each.
    public struct Months: Sendable {
        public var starts: [Int64] = []
        public var bits: [[UInt64]] = []
    }

    public let tenant: String
    public let zone: TenantZone
    public let tier: String
    public let hour: Series, day: Series
    public let names: Names
    public let months: Months

    init(tenant: String, zone: TenantZone, tier: String, hour: Series, day: Series, names: Names, base: Months? = nil, from: Int64 = .min) {
        self.tenant = tenant; self.zone = zone; self.tier = tier; self.hour = hour; self.day = day; self.names = names
        months = Self.months(day, zone: zone, base: base, from: from)
    }

    /// Month bitsets from the day series: those of `base` before the month of `from` are kept.
    static func months(_ day: Series, zone: TenantZone, base: Months?, from: Int64) -> Months {
        var z = zone
        let keepBefore = from == .min ? Int64.min : z.monthStart(from)
        var m = Months()
        if let base {
            for (i, s) in base.starts.enumerated() where s < keepBefore { m.starts.append(s); m.bits.append(base.bits[i]) }
        }
        var i = day.index(keepBefore == .min ? .min : keepBefore)
        while i < day.starts.count {
            let start = z.monthStart(day.starts[i]), end = z.nextMonthStart(day.starts[i])
            var bits: [UInt64] = []
            while i < day.starts.count && day.starts[i] < end {
                for c in day.customers[i] {
                    let w = Int(c) >> 6
                    if w >= bits.count { bits.append(contentsOf: repeatElement(0, count: w + 1 - bits.count)) }
                    bits[w] |= UInt64(1) << UInt64(c & 63)
                }
                i += 1
            }
            m.starts.append(start)
            m.bits.append(bits)
        }
        return m
    }

    public func series(_ g: Granularity) -> Series { g == .hour ? hour : day }

    /// Loads the tenant's rollups from Postgres: everything, or — given `base` — the buckets from
    /// `from` on, the earlier ones taken from `base` (a refresh after a checkpoint changed them).
    public static func load(_ tenant: String, _ db: PGConnection, base: TenantRollups? = nil, from: Int64 = .min) throws -> TenantRollups {
        let t = try db.query("SELECT tier, timezone FROM wakala.tenants WHERE tenant_id = $1", [tenant]).rows.first
        let zone = t?[1].flatMap { TenantZone(identifier: $0) } ?? .johannesburg
        let tier = t?[0] ?? "basic"
        var names = base?.names ?? Names()
        let since = base == nil ? Int64.min : from
        let hour = try loadSeries(tenant, .hour, db, since: since, base: base?.hour, names: &names)
        let day = try loadSeries(tenant, .day, db, since: since, base: base?.day, names: &names)
        return TenantRollups(tenant: tenant, zone: zone, tier: tier, hour: hour, day: day, names: names, base: base?.months, from: since)
    }

    static let bucketMs = "(extract(epoch FROM bucket_start) * 1000)::bigint"

    static func loadSeries(_ tenant: String, _ g: Granularity, _ db: PGConnection, since: Int64, base: Series?,
                           names: inout Names) throws -> Series {
        // Timestamps as ms: the lower bound as a parameter (-infinity for a full load).
        let lower = since == .min ? "-infinity" : RFC3339.format(since)
        let params: [String?] = [tenant, g.rawValue, lower]
        var sales: [Int64: Sales] = [:]
        var customers: [Int64: [Int32]] = [:]
        var products: [Int64: [Product]] = [:]
        var payments: [Int64: [Payment]] = [:]
        var deliveries: [Int64: (Int64, Int64)] = [:]
        var messages: [Int64: [(Int32, Int64)]] = [:]
        let table = g == .hour ? "rollup_hourly" : "rollup_daily"
        for r in try db.query("""
            SELECT \(bucketMs), orders, gross_revenue_cents, net_revenue_cents, items_sold, completed_orders, cancelled_orders,
                   fulfillment_seconds_sum::text, new_customers
            FROM wakala.\(table) WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3::timestamptz
            """, params).rows {
            let v = r.map { $0 ?? "0" }
            sales[Int64(v[0])!] = Sales(orders: Int64(v[1])!, gross: Int64(v[2])!, net: Int64(v[3])!, items: Int64(v[4])!,
                                        completed: Int64(v[5])!, cancelled: Int64(v[6])!, fulfillmentMillis: millis(v[7]),
                                        newCustomers: Int64(v[8])!)
        }
        for r in try db.query("""
            SELECT \(bucketMs), c FROM wakala.rollup_customers, unnest(customers) AS c
            WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3::timestamptz
            """, params).rows {
            customers[Int64(r[0]!)!, default: []].append(names.customer(r[1] ?? ""))
        }
        for r in try db.query("""
            SELECT \(bucketMs), product_id, name, orders, quantity, revenue_cents FROM wakala.rollup_products
            WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3::timestamptz
            """, params).rows {
            products[Int64(r[0]!)!, default: []].append(Product(id: names.product(r[1]!), name: r[2], orders: Int64(r[3]!)!,
                                                                 quantity: Int64(r[4]!)!, revenue: Int64(r[5]!)!))
        }
        for r in try db.query("""
            SELECT \(bucketMs), gateway, method, initiated, succeeded, failed, succeeded_amount_cents FROM wakala.rollup_payments
            WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3::timestamptz
            """, params).rows {
            payments[Int64(r[0]!)!, default: []].append(Payment(kind: names.kind(r[1]!, r[2]!), initiated: Int64(r[3]!)!,
                                                                succeeded: Int64(r[4]!)!, failed: Int64(r[5]!)!, amount: Int64(r[6]!)!))
        }
        for r in try db.query("""
            SELECT \(bucketMs), completed, delivery_seconds_sum::text FROM wakala.rollup_deliveries
            WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3::timestamptz
            """, params).rows {
            deliveries[Int64(r[0]!)!] = (Int64(r[1]!)!, millis(r[2]!))
        }
        for r in try db.query("""
            SELECT \(bucketMs), type, count FROM wakala.rollup_messages
            WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3::timestamptz
            """, params).rows {
            messages[Int64(r[0]!)!, default: []].append((names.type(r[1]!), Int64(r[2]!)!))
        }
        var s = base.map { $0.prefix(before: since) } ?? Series()
        var starts = Set(sales.keys)
        starts.formUnion(customers.keys); starts.formUnion(products.keys); starts.formUnion(payments.keys)
        starts.formUnion(deliveries.keys); starts.formUnion(messages.keys)
        for b in starts.sorted() {
            s.starts.append(b)
            s.sales.append(sales[b] ?? Sales())
            s.customers.append((customers[b] ?? []).sorted())
            s.products.append(products[b] ?? [])
            s.payments.append(payments[b] ?? [])
            s.deliveries.append(deliveries[b].map { (completed: $0.0, millis: $0.1) } ?? (0, 0))
            s.messages.append((messages[b] ?? []).map { (type: $0.0, count: $0.1) })
        }
        return s
    }

    /// Exact decimal seconds (`5.25`) as milliseconds.
    static func millis(_ text: String) -> Int64 {
        let neg = text.hasPrefix("-")
        let body = neg ? text.dropFirst() : Substring(text)
        let parts = body.split(separator: ".", maxSplits: 1)
        var ms = (Int64(parts.first ?? "0") ?? 0) * 1000
        if parts.count == 2 {
            let frac = String(parts[1].prefix(3))
            ms += (Int64(frac) ?? 0) * [100, 10, 1][frac.count - 1]
        }
        return neg ? -ms : ms
    }
}

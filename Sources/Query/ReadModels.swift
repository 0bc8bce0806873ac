import Domain
import Postgres

/// Lookups in the Postgres read models (CONTRACT §3.2), every one filtered by the caller's tenant
/// and parameterized. Times leave in the tenant's timezone.
public enum ReadModels {
    static func ms(_ c: String) -> String { "(extract(epoch FROM \(c)) * 1000)::bigint" }

    /// Order statuses a `status=` filter accepts.
    public static let statuses = ["pending", "confirmed", "processing", "ready_for_pickup", "delivering", "completed", "cancelled"]

    static func time(_ text: String?, _ z: inout TenantZone) -> JSONText {
        guard let text, let t = Int64(text) else { return .null }
        return .string(Dashboard.format(t, &z))
    }

    static func str(_ s: String?) -> JSONText { s.map { .string($0) } ?? .null }

    static let orderColumns = "order_id, status, payment_status, payment_method, customer_id, vendor_id, delivery_id, total_cents, "
        + "\(ms("created_at")), \(ms("updated_at"))"

    static func order(_ r: [String?], _ z: inout TenantZone) -> [(String, JSONText)] {
        [("order_id", str(r[0])), ("status", str(r[1])), ("payment_status", str(r[2])), ("payment_method", str(r[3])),
         ("customer_id", str(r[4])), ("vendor_id", str(r[5])), ("delivery_id", str(r[6])),
         ("total_cents", .int(Int64(r[7] ?? "0") ?? 0)), ("created_at", time(r[8], &z)), ("updated_at", time(r[9], &z))]
    }

    /// One order with its status history and rejected transitions; 404 when the tenant has none.
    public static func order(_ tenant: String, _ id: String, zone: TenantZone, _ db: PGConnection) throws -> JSONText {
        var z = zone
        guard let r = try db.query("SELECT \(orderColumns) FROM wakala.orders WHERE tenant_id = $1 AND order_id = $2", [tenant, id]).rows.first else {
            throw QueryError.notFound("no order \(id)")
        }
        let history = try db.query("""
            SELECT seq, from_status, to_status, event_id, \(ms("at")) FROM wakala.order_status_history
            WHERE tenant_id = $1 AND order_id = $2 ORDER BY seq
            """, [tenant, id]).rows.map { h -> JSONText in
            .object([("seq", .int(Int64(h[0]!)!)), ("from", str(h[1])), ("to", str(h[2])), ("event_id", str(h[3])), ("at", time(h[4], &z))])
        }
        let rejected = try db.query("""
            SELECT event_type, state, reason, rejected_event_id, \(ms("at")) FROM wakala.order_transition_rejections
            WHERE tenant_id = $1 AND order_id = $2 ORDER BY at, rejected_event_id
            """, [tenant, id]).rows.map { h -> JSONText in
            .object([("event_type", str(h[0])), ("state", str(h[1])), ("reason", str(h[2])), ("event_id", str(h[3])), ("at", time(h[4], &z))])
        }
        return .object([("tenant_id", .string(tenant))] + order(r, &z) + [("history", .array(history)), ("rejected_transitions", .array(rejected))])
    }

    /// A page of the tenant's orders, newest first, optionally of one status.
    public static func orders(_ tenant: String, status: String?, page: Int, limit: Int, zone: TenantZone, _ db: PGConnection) throws -> JSONText {
        var z = zone
        let rows = try db.query("""
            SELECT \(orderColumns) FROM wakala.orders WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
            ORDER BY created_at DESC NULLS LAST, order_id LIMIT $3 OFFSET $4
            """, [tenant, status, String(limit), String((page - 1) * limit)]).rows
        let total = try db.query("SELECT count(*) FROM wakala.orders WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)",
                                 [tenant, status]).rows.first?[0].flatMap { Int64($0) } ?? 0
        return .object([("tenant_id", .string(tenant)), ("status", str(status)), ("page", .int(Int64(page))), ("limit", .int(Int64(limit))),
                        ("total", .int(total)), ("orders", .array(rows.map { .object(order($0, &z)) }))])
    }

    /// One delivery: status, driver, last location, ETA; 404 when the tenant has none.
    public static func delivery(_ tenant: String, _ id: String, zone: TenantZone, _ db: PGConnection) throws -> JSONText {
        var z = zone
        guard let r = try db.query("""
            SELECT delivery_id, order_id, driver_id, status, \(ms("eta")), last_lat, last_lng FROM wakala.deliveries
            WHERE tenant_id = $1 AND delivery_id = $2
            """, [tenant, id]).rows.first else { throw QueryError.notFound("no delivery \(id)") }
        let location: JSONText = (r[5].flatMap(Double.init)).flatMap { lat in
            r[6].flatMap(Double.init).map { .object([("lat", .double(lat)), ("lng", .double($0))]) }
        } ?? .null
        return .object([("tenant_id", .string(tenant)), ("delivery_id", str(r[0])), ("order_id", str(r[1])), ("driver_id", str(r[2])),
                        ("status", str(r[3])), ("eta", time(r[4], &z)), ("last_location", location)])
    }

    /// Quota usage per resource (CONTRACT §2.3).
    public static func usage(_ tenant: String, tier: String, _ db: PGConnection) throws -> JSONText {
        let rows = try db.query("""
            SELECT resource, used::text, "limit", status FROM wakala.tenant_usage WHERE tenant_id = $1 ORDER BY resource
            """, [tenant]).rows
        return .object([("tenant_id", .string(tenant)), ("tier", .string(tier)), ("resources", .array(rows.map { r in
            .object([("resource", str(r[0])), ("used", number(r[1])), ("limit", r[2].flatMap { Int64($0) }.map { .int($0) } ?? .null),
                     ("status", str(r[3]))])
        }))])
    }

    static func number(_ text: String?) -> JSONText {
        guard let text else { return .null }
        if let i = Int64(text) { return .int(i) }
        return Double(text).map { .double($0) } ?? .null
    }

    /// The live tiles: orders in flight, drivers on active deliveries, and today's revenue and
    /// average delivery time (today in the tenant's timezone, from the rollups).
    public static func live(_ r: TenantRollups, now: Int64, _ db: PGConnection) throws -> JSONText {
        var z = r.zone
        let active = try db.query("""
            SELECT count(*) FROM wakala.orders WHERE tenant_id = $1 AND status NOT IN ('completed', 'cancelled')
            """, [r.tenant]).rows.first?[0].flatMap { Int64($0) } ?? 0
        let drivers = try db.query("""
            SELECT count(DISTINCT driver_id) FROM wakala.deliveries WHERE tenant_id = $1 AND status IN ('assigned', 'picked_up')
            """, [r.tenant]).rows.first?[0].flatMap { Int64($0) } ?? 0
        let today = z.dayStart(now)
        let i = r.day.index(today)
        let hit = i < r.day.starts.count && r.day.starts[i] == today
        let revenue = hit ? r.day.sales[i].gross : 0
        let d = hit ? r.day.deliveries[i] : (completed: 0, millis: 0)
        return .object([("tenant_id", .string(r.tenant)), ("as_of", .string(Dashboard.format(now, &z))),
                        ("day_start", .string(Dashboard.format(today, &z))),
                        ("active_orders", .int(active)), ("revenue_today_cents", .int(revenue)), ("active_drivers", .int(drivers)),
                        ("avg_delivery_seconds_today", d.completed == 0 ? .null : .double(Double(d.millis) / 1000 / Double(d.completed)))])
    }
}

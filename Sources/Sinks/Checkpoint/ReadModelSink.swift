import Domain
import Operators
import Postgres

/// The Postgres read models (CONTRACT §3.3) of the operators the postgres sink takes: inside the
/// checkpoint's transaction, per table, COPY into a temporary staging table, then one
/// `INSERT … ON CONFLICT DO UPDATE` (rows carry current values, so a row written twice is
/// harmless).
public final class ReadModelSink: CheckpointSink {
    func commit(_ cut: CheckpointCut, _ db: PGConnection) throws {
        try Self.writeReadModels(cut.readModels, db)
        // Delivered to listeners when (and only if) the checkpoint's transaction commits.
        if let payload = Self.notification(cut.readModels) {
            _ = try db.query("SELECT pg_notify($1, $2)", [Self.channel, payload])
        }
    }

    /// The channel a checkpoint notifies on (`wakala serve` listens).
    public static let channel = ReadModelNotifications.channel

    /// What changed, for the readers' caches: per tenant the earliest rollup bucket written
    /// (`{"tenant": ms}`; a tenant's own row counts from the beginning of time), or, when that
    /// would not fit a notification, `{"*": ms}` — every tenant from the earliest bucket. Nil:
    /// nothing a cache holds changed.
    public static func notification(_ rows: [ReadModelRow]) -> String? {
        var earliest: [String: EpochMillis] = [:]
        for r in rows where r.table.hasPrefix("rollup_") || r.table == "tenants" {
            guard case .string(let tenant)? = r.row["tenant_id"] else { continue }
            var at = EpochMillis.min
            if case .time(let t)? = r.row["bucket_start"] { at = t }
            earliest[tenant] = min(earliest[tenant] ?? .max, at)
        }
        guard !earliest.isEmpty else { return nil }
        let body = earliest.sorted { $0.key < $1.key }.map { "\(OutputValue.string($0.key).json):\($0.value)" }.joined(separator: ",")
        if body.utf8.count < 7000 { return "{" + body + "}" }
        return "{\"*\":\(earliest.values.min()!)}"
    }

    /// Tables whose rows are only ever added (a transition, a rejection: keyed by what happened,
    /// never rewritten). A checkpoint COPYs their rows straight in; a row that is there already
    /// (which exactly-once checkpoints do not produce) sends that table back to the upsert.
    public static let appendOnly: Set<String> = ["order_status_history", "order_transition_rejections"]

    /// Rows per table, tables in first-seen order, the last row per primary key kept (a batch
    /// may not touch one row twice in an upsert); append-only tables' rows kept as they are
    /// unless `dedupeAll`.
    public static func grouped(_ rows: [ReadModelRow], dedupeAll: Bool = true) throws -> [(table: String, columns: [String], rows: [OutputRow])] {
        var byTable: [String: [OutputRow]] = [:]
        var order: [String] = []
        for r in rows {
            if byTable[r.table] == nil { order.append(r.table) }
            byTable[r.table, default: []].append(r.row)
        }
        return try order.map { table in
            let list = byTable[table]!
            guard let keys = Migrations.keys(of: table, firstRow: list.first) else { throw PGError("no read-model table \(table)") }
            return (table, list[0].fields.map(\.0), !dedupeAll && appendOnly.contains(table) ? list : lastPerKey(list, keys: keys))
        }
    }

    /// The last row per primary key, in the order of those last rows.
    static func lastPerKey(_ list: [OutputRow], keys: [String]) -> [OutputRow] {
        var last: [[String?]: Int] = [:]
        for (i, r) in list.enumerated() { last[keys.map { k in r[k].flatMap(text) }] = i }
        return list.enumerated().filter { e in last[keys.map { k in e.element[k].flatMap(text) }] == e.offset }.map(\.element)
    }

    /// COPY text of each table's rows.
    public static func copyText(_ rows: [ReadModelRow]) throws -> [(table: String, text: String)] {
        try grouped(rows).map { g in (g.table, String(decoding: copyBytes(g.rows), as: UTF8.self)) }
    }

    /// Rows as COPY text bytes, one line each.
    public static func copyBytes(_ rows: [OutputRow]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * 64)
        for r in rows {
            for (i, f) in r.fields.enumerated() {
                if i > 0 { out.append(0x09) }
                switch f.1 {
                case .int(let n): out.append(contentsOf: String(n).utf8)
                default: PGConnection.appendCopyEscaped(text(f.1), to: &out)
                }
            }
            out.append(0x0A)
        }
        return out
    }

    /// The quoted column list of a table's rows.
    public static func copyColumns(_ rows: [ReadModelRow], _ table: String) -> [String] {
        rows.first { $0.table == table }.map { $0.row.fields.map { "\"\($0.0)\"" } } ?? []
    }

    /// Per table: COPY into a temporary staging table, then one INSERT … ON CONFLICT DO UPDATE
    /// (rows carry current values, so a row written twice is harmless) — or, for an append-only
    /// table, COPY straight into it under a savepoint, the upsert only if a row was there
    /// already. Inside the caller's transaction.
    public static func writeReadModels(_ rows: [ReadModelRow], _ db: PGConnection) throws {
        for g in try grouped(rows, dedupeAll: false) {
            if appendOnly.contains(g.table) {
                try db.execute("SAVEPOINT wakala_append")
                do {
                    _ = try db.copy(into: "wakala.\(g.table)", columns: g.columns.map { "\"\($0)\"" }, text: copyBytes(g.rows))
                    try db.execute("RELEASE SAVEPOINT wakala_append")
                    continue
                } catch let e as PGError where e.sqlState == "23505" { // unique_violation
                    try db.execute("ROLLBACK TO SAVEPOINT wakala_append")
                }
                try upsert(g.table, g.columns, lastPerKey(g.rows, keys: Migrations.keys(of: g.table, firstRow: g.rows.first)!), db)
            } else {
                try upsert(g.table, g.columns, g.rows, db)
            }
        }
    }

    /// COPY into a temporary staging table, then one INSERT … ON CONFLICT DO UPDATE.
    private static func upsert(_ table: String, _ names: [String], _ rows: [OutputRow], _ db: PGConnection) throws {
        let keys = Migrations.keys(of: table, firstRow: rows.first)!
        let columns = names.map { "\"\($0)\"" }
        let quoted = columns.joined(separator: ", ")
        let stage = "stage_\(table)"
        try db.execute("CREATE TEMP TABLE \(stage) (LIKE wakala.\(table)) ON COMMIT DROP")
        _ = try db.copy(into: stage, columns: columns, text: copyBytes(rows))
        let updates = names.filter { !keys.contains($0) }.map { "\"\($0)\" = EXCLUDED.\"\($0)\"" }
        try db.execute("""
            INSERT INTO wakala.\(table) (\(quoted)) SELECT \(quoted) FROM \(stage)
            ON CONFLICT (\(keys.joined(separator: ", "))) DO \(updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates.joined(separator: ", "))
            """)
    }

    /// A text[] literal: `{"a","b"}`, each element's backslashes and double quotes escaped with a
    /// backslash (built in bytes: Foundation's `replacingOccurrences` cost ~13,000 instructions
    /// a list).
    static func arrayLiteral(_ l: [String]) -> String {
        var out: [UInt8] = [0x7B] // {
        for (i, e) in l.enumerated() {
            if i > 0 { out.append(0x2C) } // ,
            out.append(0x22)
            for c in e.utf8 {
                if c == 0x5C || c == 0x22 { out.append(0x5C) }
                out.append(c)
            }
            out.append(0x22)
        }
        out.append(0x7D) // }
        return String(decoding: out, as: UTF8.self)
    }

    /// A value as Postgres text (nil = NULL).
    public static func text(_ v: OutputValue) -> String? {
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "t" : "f"
        case .number(let n): return n
        case .time(let t): return RFC3339.format(t)
        case .strings(let l): return arrayLiteral(l)
        case .null: return nil
        }
    }
}

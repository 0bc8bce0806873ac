import Domain
import Foundation
import Operators
import TestSupport
import Testing
@testable import Sinks
import Postgres

@Suite(.serialized) struct MigrationsAndReadModelTests {
    @Test func migrationsApplyOnceInOrder() throws {
        let db = try PGConnection(url: try TestDatabase.fresh("migrations"))
        #expect(try Migrations.run(db) == Migrations.all.map(\.version))
        #expect(try Migrations.run(db).isEmpty) // a second run is a no-op
        let applied = try db.query("SELECT version FROM wakala.schema_migrations ORDER BY version").rows.map { Int($0[0]!)! }
        #expect(applied == Migrations.all.map(\.version))
        // Every read-model table has the primary key the upsert relies on.
        for (table, keys) in Migrations.primaryKeys {
            let r = try db.query("""
                SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = ('wakala.' || $1)::regclass AND i.indisprimary ORDER BY a.attname
                """, [table])
            #expect(r.rows.map { $0[0]! } == keys.sorted(), "\(table)")
        }
    }

    @Test func upsertsKeepTheLastRowPerKeyAndOverwrite() throws {
        let db = try PGConnection(url: try TestDatabase.fresh("upserts"))
        try Migrations.run(db)
        func usage(_ tenant: String, _ used: String, _ status: String) -> ReadModelRow {
            ReadModelRow("tenant_usage", [("tenant_id", .string(tenant)), ("resource", .string("api_calls")),
                                          ("used", .number(used)), ("limit", .int(1000)), ("status", .string(status))])
        }
        // Twice the same key in one batch (the last wins), hostile text, then an overwrite.
        try db.transaction {
            try ReadModelSink.writeReadModels([usage("t-1", "10", "ok"), usage("t-2'; DROP TABLE x; --\t\\\n", "1", "ok"),
                                              usage("t-1", "850.5", "warning")], db)
        }
        var rows = try db.query("SELECT tenant_id, used::text, status FROM wakala.tenant_usage ORDER BY tenant_id").rows
        #expect(rows == [["t-1", "850.5", "warning"], ["t-2'; DROP TABLE x; --\t\\\n", "1", "ok"]])
        try db.transaction { try ReadModelSink.writeReadModels([usage("t-1", "1001", "exceeded")], db) }
        rows = try db.query("SELECT tenant_id, used::text, status FROM wakala.tenant_usage ORDER BY tenant_id").rows
        #expect(rows[0] == ["t-1", "1001", "exceeded"])
        #expect(throws: PGError.self) { try ReadModelSink.writeReadModels([ReadModelRow("no_such_table", [("a", .int(1))])], db) }
    }

    /// Append-only tables take a checkpoint's rows by a straight COPY; a row that is there already
    /// (exactly-once checkpoints do not produce one, but it must not fail the checkpoint) sends
    /// that table's rows to the upsert, and the transaction goes on with the next table.
    @Test func appendOnlyRowsCopyInAndARowThereAlreadyFallsBackToTheUpsert() throws {
        let db = try PGConnection(url: try TestDatabase.fresh("append_only"))
        try Migrations.run(db)
        func step(_ order: String, _ seq: Int64, _ from: String?, _ to: String) -> ReadModelRow {
            ReadModelRow("order_status_history", [
                ("tenant_id", .string("t-1")), ("order_id", .string(order)), ("seq", .int(seq)), ("from_status", from.map { .string($0) } ?? .null),
                ("to_status", .string(to)), ("event_id", .string("e-\(order)-\(seq)")), ("at", .time(1_772_323_200_000 + seq))])
        }
        let usage = ReadModelRow("tenant_usage", [("tenant_id", .string("t-1")), ("resource", .string("api_calls")),
                                                  ("used", .number("5")), ("limit", .int(1000)), ("status", .string("ok"))])
        try db.transaction { try ReadModelSink.writeReadModels([step("o-1", 1, nil, "pending"), step("o-1", 2, "pending", "confirmed")], db) }
        // o-1's second step again, a new row given twice, then another table in the same transaction.
        try db.transaction {
            try ReadModelSink.writeReadModels([step("o-1", 2, "pending", "confirmed"), step("o-2", 1, nil, "pending"),
                                               step("o-2", 1, nil, "pending"), usage], db)
        }
        let rows = try db.query("SELECT order_id, seq::text, coalesce(from_status, '-'), to_status FROM wakala.order_status_history ORDER BY 1, 2").rows
        #expect(rows == [["o-1", "1", "-", "pending"], ["o-1", "2", "pending", "confirmed"], ["o-2", "1", "-", "pending"]])
        #expect(try db.query("SELECT used::text FROM wakala.tenant_usage").rows == [["5"]])
        // A failure that is not a repeated row still fails the checkpoint.
        #expect(throws: PGError.self) {
            try db.transaction { try ReadModelSink.writeReadModels([ReadModelRow("order_status_history", [("tenant_id", .null)])], db) }
        }
    }

    /// An instant kept as milliseconds by the operators lands as that instant in a timestamptz.
    @Test func instantsLandAsTimestamps() throws {
        let db = try PGConnection(url: try TestDatabase.fresh("instants"))
        try Migrations.run(db)
        let eta: EpochMillis = 1_772_323_200_123 // 2026-03-01T00:00:00.123Z
        try db.transaction {
            try ReadModelSink.writeReadModels([ReadModelRow("deliveries", [
                ("delivery_id", .string("d-1")), ("tenant_id", .string("t-1")), ("order_id", .string("o-1")),
                ("driver_id", .string("drv-1")), ("status", .string("assigned")), ("eta", .time(eta)),
                ("last_lat", .null), ("last_lng", .null)])], db)
        }
        let rows = try db.query("SELECT (extract(epoch FROM eta) * 1000)::bigint::text FROM wakala.deliveries").rows
        #expect(rows == [[String(eta)]])
    }

    /// A list lands as a text[] whose elements are the strings given, whatever they hold: quotes,
    /// backslashes, commas, braces, tabs, newlines, non-ASCII, the empty string, the word NULL.
    @Test func listsLandAsTextArraysElementForElement() throws {
        let db = try PGConnection(url: try TestDatabase.fresh("text_arrays"))
        try Migrations.run(db)
        let hostile = ["c-1", "a\"b", "back\\slash", "x,y", "{z}", "tab\there", "line\nbreak", "ŋwana", "", "NULL", "\\\"\\"]
        try db.transaction {
            try ReadModelSink.writeReadModels([ReadModelRow("rollup_customers", [
                ("tenant_id", .string("t-1")), ("granularity", .string("day")), ("bucket_start", .time(0)),
                ("customers", .strings(hostile))])], db)
        }
        let n = try db.query("SELECT cardinality(customers)::text FROM wakala.rollup_customers").rows
        #expect(n == [[String(hostile.count)]])
        let elements = try db.query("SELECT e FROM wakala.rollup_customers, unnest(customers) WITH ORDINALITY AS u(e, i) ORDER BY i").rows
        #expect(elements.map { $0[0] } == hostile.map { Optional($0) })
    }
}

@Suite struct PartFileOwnerTests {
    /// Tasks share a data folder: a task's restart removes only its own uncommitted files.
    @Test func workerOfEachFileName() {
        #expect(Checkpointer.worker(ofFile: "part-12-3.parquet") == 3)
        #expect(Checkpointer.worker(ofFile: "part-12-11.ndjson") == 11)
        #expect(Checkpointer.worker(ofFile: ".tmp-part-12-3.parquet-4711") == 3)
        #expect(Checkpointer.worker(ofFile: ".tmp-part-7-10-4711") == 10)
        #expect(Checkpointer.worker(ofFile: "notes.txt") == nil)
        #expect(Checkpointer.worker(ofFile: "part-x") == nil)
    }
}

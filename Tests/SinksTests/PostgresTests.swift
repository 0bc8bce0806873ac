import Foundation
import TestSupport
import Testing
@testable import Sinks
import Postgres

@Suite(.serialized) struct PostgresTests {
    @Test func writesAndReadsBack() throws {
        let url = try TestDatabase.fresh("writesAndReadsBack")
        let c = try PGConnection(url: url)
        try c.execute("""
            CREATE TABLE orders (order_id text PRIMARY KEY, tenant_id text NOT NULL,
                                 total_cents bigint NOT NULL, created_at timestamptz NOT NULL, note text)
            """)
        // Parameters, never spliced SQL: a hostile value is just a value.
        let hostile = "o-1'); DROP TABLE orders; --"
        try c.transaction {
            try c.query("INSERT INTO orders VALUES ($1, $2, $3, $4, $5)", [hostile, "t-1", "24990", "2026-03-01T08:00:00Z", nil])
            try c.query("INSERT INTO orders VALUES ($1, $2, $3, $4, $5)", ["o-2", "t-1", "100", "2026-03-01T10:00:00+02:00", "café \"ñ\""])
        }
        // COPY with values that need escaping.
        var copy = ""
        for i in 0..<1000 {
            let fields = ["o-c\(i)", "t-2", String(i), "2026-03-02T00:00:00Z", i % 2 == 0 ? nil : "tab\there\nnewline \\ back"]
            copy += fields.map(PGConnection.copyEscape).joined(separator: "\t") + "\n"
        }
        #expect(try c.copy(into: "orders", columns: ["order_id", "tenant_id", "total_cents", "created_at", "note"], text: Array(copy.utf8)) == 1000)

        let rows = try c.query("SELECT order_id, total_cents, extract(epoch FROM created_at)::bigint AS at, note FROM orders WHERE tenant_id = $1 ORDER BY order_id", ["t-1"])
        #expect(rows.count == 2)
        #expect(rows[0, "order_id"] == hostile)
        #expect(rows[0, "total_cents"] == "24990")
        #expect(rows[0, "at"] == "1772352000")
        #expect(rows[0, "note"] == nil)
        #expect(rows[1, "at"] == "1772352000")
        #expect(rows[1, "note"] == "café \"ñ\"")
        let copied = try c.query("SELECT count(*) AS n, sum(total_cents) AS s, max(note) AS note FROM orders WHERE tenant_id = 't-2'")
        #expect(copied[0, "n"] == "1000")
        #expect(copied[0, "s"] == "499500")
        #expect(copied[0, "note"] == "tab\there\nnewline \\ back")
    }

    @Test func failedTransactionLeavesNothing() throws {
        let c = try PGConnection(url: try TestDatabase.fresh("rollback"))
        try c.execute("CREATE TABLE t (k text PRIMARY KEY)")
        #expect(throws: PGError.self) {
            try c.transaction {
                try c.query("INSERT INTO t VALUES ($1)", ["a"])
                try c.query("INSERT INTO t VALUES ($1)", ["a"]) // duplicate key
            }
        }
        #expect(try c.query("SELECT count(*) AS n FROM t")[0, "n"] == "0")
        do {
            try c.query("INSERT INTO t VALUES ($1), ($1)", ["b"])
            Issue.record("duplicate accepted")
        } catch let e as PGError {
            #expect(e.sqlState == "23505")
        }
    }

    @Test func clearErrorWhenUnreachable() {
        #expect(throws: PGError.self) { try PGConnection(url: "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2") }
    }

    @Test func missingBinariesGiveAClearMessage() throws {
        // With nothing on PATH and a bogus bin dir the helper must say what to install.
        setenv("WAKALA_PG_BINDIR", "/nonexistent", 1)
        defer { unsetenv("WAKALA_PG_BINDIR") }
        let hasSystemBinaries = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.isEmpty == false
        if !hasSystemBinaries {
            #expect(throws: LocalPostgres.Failure.self) { try LocalPostgres.findBinaries() }
        } else {
            // Installed here: the fallback search must find them even with a wrong WAKALA_PG_BINDIR.
            #expect(try LocalPostgres.findBinaries().path.hasPrefix("/usr/") )
        }
    }
}

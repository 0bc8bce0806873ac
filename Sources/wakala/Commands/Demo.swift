import ArgumentParser
import Foundation
import Sinks

/// `wakala demo`: the main job on the embedded default (CONTRACT §4), no configuration: a
/// generated week of township commerce, a private PostgreSQL started from the installed server
/// binaries, the default pipeline with every sink (read models, Parquet, derived events, dead
/// letters) committed at checkpoints, and a summary read back from Postgres.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the default pipeline end to end on the embedded default (generated stream, private Postgres, Parquet).")

    @Option(help: "Data folder (env WAKALA_DATA_DIR).") var data: String?
    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 7

    func run() throws {
        let dir = data ?? env("WAKALA_DATA_DIR") ?? "data"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let input = "\(dir)/demo-\(tenants)x\(days).ndjson.zst"
        if !FileManager.default.fileExists(atPath: input) {
            let g = try Generate.parse(["--seed", "7", "--tenants", String(tenants), "--days", String(days), "--disorder", "20s",
                                        "--duplicates", "0.01", "--malformed", "0.001", "--out", input])
            try g.run()
        }
        let pg: LocalPostgres
        do {
            pg = try LocalPostgres(directory: URL(fileURLWithPath: "\(dir)/postgres"))
        } catch let e as LocalPostgres.Failure where e.description.contains("cannot enter") {
            // Under root the server runs as `postgres`, which may not reach the data folder.
            pg = try LocalPostgres(directory: URL(fileURLWithPath: NSTemporaryDirectory() + "wakala-demo-postgres"))
        }
        note("wakala demo: private PostgreSQL in \(pg.directory.path)")
        defer { try? pg.stop() }
        // One database per stream, so a rerun resumes (here: finds it done) instead of mixing streams.
        let url = try pg.createDatabase("wakala_\(tenants)x\(days)")
        let replay = try Replay.parse(["--pipeline", "Pipelines/analytics.yaml", "--input", input, "--sinks", "--postgres", url,
                                       "--data", dir])
        try replay.run()
        let db = try PGConnection(url: url)
        print("read models in schema wakala (\(url)):")
        for t in ["tenants", "orders", "order_status_history", "order_transition_rejections", "deliveries", "tenant_usage",
                  "rollup_hourly", "rollup_daily", "rollup_products", "rollup_payments", "rollup_deliveries", "rollup_messages"] {
            let n = try db.query("SELECT count(*) FROM wakala.\(t)").rows[0][0] ?? "0"
            print("  \(t): \(n) rows")
        }
        let files = try db.query("SELECT kind, count(*), sum(rows), sum(bytes) FROM wakala.file_manifest GROUP BY kind ORDER BY kind")
        print("files committed through the manifest:")
        for r in files.rows { print("  \(r[0] ?? ""): \(r[1] ?? "0") files, \(r[2] ?? "0") rows, \(r[3] ?? "0") bytes") }
        let daily = try db.query("""
            SELECT to_char(bucket_start AT TIME ZONE 'Africa/Johannesburg', 'YYYY-MM-DD'), orders, gross_revenue_cents,
                   completed_orders, unique_customers
            FROM wakala.rollup_daily WHERE tenant_id = $1 ORDER BY bucket_start
            """, ["t-0001"])
        print("daily rollups of t-0001 (date, orders, gross revenue cents, completed, unique customers):")
        for r in daily.rows { print("  " + r.map { $0 ?? "" }.joined(separator: "  ")) }
    }
}

import ArgumentParser
import Domain
import Foundation
import Serve
import Sinks
import Postgres

/// `wakala bench serve`: `/v1/dashboard` under load from a second process (wrk) for a tenant
/// with ≥ 1,000,000 orders, against the same question asked of DuckDB and ClickHouse (chdb)
/// over the same Parquet files, in the same run.
struct ServeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve",
        abstract: "Dashboard latency under wrk load (a ≥ 1 M-order tenant, many aligned ranges) vs DuckDB and chdb on the same Parquet files.",
        discussion: """
        Builds the data honestly: `wakala generate --orders-only` (one tenant, a year) through \
        `wakala replay --sinks` into a private Postgres and Parquet. Then `wakala serve \
        --rate-limits off` (the tier's limit is lifted for the load: this flag, nothing else) and \
        wrk with a Lua script that picks each request's range from --ranges random day-aligned \
        ranges of 1 to 365 days, so a cache of whole answers cannot decide the figure. Needs wrk \
        (apt) and duckdb + chdb (pip): `scripts/setup --bench`.
        """)

    @Option(help: "Days of orders (one tenant).") var days: Int = 365
    @Option(help: "Average orders per day (the basic tier scales it by 0.8: 3500 gives ≥ 1 M a year).") var ordersPerDay: Int = 3500
    @Option(help: "Customers of the tenant.") var customers: Int = 100_000
    @Option(help: "Distinct ranges the load picks from.") var ranges: Int = 2000
    @Option(help: "Seconds of load.") var seconds: Int = 20
    @Option(help: "wrk connections.") var connections: Int = 4
    @Option(help: "Ranges asked of the peers (each timed; answers compared with ours).") var peerQueries: Int = 20
    @Option(help: "Keep the data here (reused when present) instead of a temporary folder.") var work: String?

    func run() throws {
        for tool in ["/usr/bin/wrk"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw RuntimeFailure("\(tool) is missing: scripts/setup --bench")
        }
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        let dir = work ?? NSTemporaryDirectory() + "wakala-bench-serve-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if work == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let pg = try LocalPostgres(directory: URL(fileURLWithPath: dir + "/pg"))
        defer { if work == nil { try? pg.remove() } else { try? pg.stop() } }
        let url: String
        if FileManager.default.fileExists(atPath: dir + "/loaded") {
            url = pg.url(database: "bench")
            note("bench serve: reusing the data in \(dir)")
        } else {
            url = try pg.createDatabase("bench")
            let events = dir + "/orders.ndjson.zst"
            var t0 = monotonicSeconds()
            try runChecked(me, ["generate", "--seed", "21", "--tenants", "1", "--days", String(days), "--orders-per-day", String(ordersPerDay),
                           "--customers", String(customers), "--orders-only", "--out", events])
            note(String(format: "bench serve: generated in %.1f s", monotonicSeconds() - t0))
            t0 = monotonicSeconds()
            try runChecked(me, ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", events, "--sinks", "--postgres", url, "--data", dir + "/data"])
            note(String(format: "bench serve: replayed with every sink in %.1f s", monotonicSeconds() - t0))
            _ = FileManager.default.createFile(atPath: dir + "/loaded", contents: nil)
        }
        let db = try PGConnection(url: url)
        guard let row = try db.query("SELECT tenant_id, timezone FROM wakala.tenants LIMIT 1").rows.first, let tenant = row[0], let zone = row[1] else {
            throw RuntimeFailure("no tenant in the bench database")
        }
        let orders = Int(try db.query("SELECT sum(orders) FROM wakala.rollup_daily WHERE tenant_id = $1", [tenant]).rows.first?[0] ?? "0") ?? 0
        guard orders >= 1_000_000 || days < 365 else { throw RuntimeFailure("only \(orders) orders: raise --orders-per-day") }
        let first = Int64(try db.query("SELECT (extract(epoch FROM min(bucket_start)) * 1000)::bigint FROM wakala.rollup_daily").rows.first?[0] ?? "0") ?? 0
        let dayCount = Int(try db.query("SELECT count(*) FROM wakala.rollup_daily").rows.first?[0] ?? "0") ?? 0

        // Ranges: day-aligned in the tenant's zone, 1 to 365 days, seeded.
        var z = TenantZone(identifier: zone) ?? .johannesburg
        var seeded = Seeded(seed: 20261201)
        func day(_ n: Int) -> Int64 { var b = first; for _ in 0..<n { b = z.dayStart(b + 25 * 3_600_000) }; return b }
        var starts: [Int64] = []
        for n in 0...dayCount { starts.append(day(n)) }
        func fmt(_ t: Int64) -> String { RFC3339.format(t, offsetSeconds: Int(z.offsetMillis(at: t) / 1000)) }
        var pairs: [(String, String)] = []
        for _ in 0..<ranges {
            let a = Int(seeded.next() % UInt64(dayCount))
            let n = 1 + Int(seeded.next() % UInt64(min(365, dayCount - a)))
            pairs.append((fmt(starts[a]), fmt(starts[a + n])))
        }
        let enc = { (s: String) in s.replacingOccurrences(of: "+", with: "%2B") }

        // The server, its token, the load.
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max)) }.joined()
        let server = Process()
        server.executableURL = me
        server.arguments = ["serve", "--port", "0", "--postgres", url, "--rate-limits", "off", "--log-level", "warning"]
        server.environment = ProcessInfo.processInfo.environment.merging(["WAKALA_JWT_SECRET": secret]) { $1 }
        let out = Pipe()
        server.standardOutput = out
        try server.run()
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        guard let line = String(data: out.fileHandleForReading.availableData, encoding: .utf8), line.hasPrefix("listening: "),
              let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last ?? "") else {
            throw RuntimeFailure("wakala serve did not start")
        }
        let token = try awaitSync { try await TokenVerifier.sign(DashboardClaims(tenantID: tenant, expires: Date().addingTimeInterval(3600)), secret: secret) }
        let base = "http://127.0.0.1:\(port)"
        // The first request loads the tenant's rollups (timed on its own).
        var t0 = monotonicSeconds()
        _ = try curl(base + "/v1/dashboard?from=\(enc(pairs[0].0))&to=\(enc(pairs[0].1))&granularity=day", token: token)
        note(String(format: "bench serve: first request (loads %d orders' rollups) %.2f s", orders, monotonicSeconds() - t0))

        let lua = dir + "/ranges.lua"
        var script = "paths = {\n" + pairs.map { "\"/v1/dashboard?from=\(enc($0.0))&to=\(enc($0.1))&granularity=day\"" }.joined(separator: ",\n") + "\n}\n"
        script += "wrk.headers[\"Authorization\"] = \"Bearer \(token)\"\nmath.randomseed(7)\n"
        script += "request = function()\n  return wrk.format(\"GET\", paths[math.random(#paths)])\nend\n"
        script += "done = function(summary, latency, requests)\n  io.write(string.format(\"WAKALA p50=%d p99=%d n=%d errors=%d\\n\", latency:percentile(50), latency:percentile(99), summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\nend\n"
        try script.write(toFile: lua, atomically: true, encoding: .utf8)
        t0 = monotonicSeconds()
        let wrk = try capture(URL(fileURLWithPath: "/usr/bin/wrk"), ["-t1", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", lua, base])
        let wall = monotonicSeconds() - t0
        guard let stats = wrk.split(separator: "\n").first(where: { $0.hasPrefix("WAKALA ") }) else { throw RuntimeFailure("wrk: \(wrk)") }
        var kv: [String: Double] = [:]
        for part in stats.split(separator: " ").dropFirst() {
            let p = part.split(separator: "=")
            kv[String(p[0])] = Double(p[1])
        }
        let rps = (kv["n"] ?? 0) / wall
        guard kv["errors"] == 0 else { throw RuntimeFailure("wrk saw \(Int(kv["errors"] ?? 0)) errors:\n\(wrk)") }

        // The peers: the same ranges' question over the same Parquet files; answers compared.
        let sample = Array(pairs.prefix(peerQueries))
        try sample.map { "\($0.0) \($0.1)" }.joined(separator: "\n").write(toFile: dir + "/peer-ranges.txt", atomically: true, encoding: .utf8)
        let peersOut = try capture(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/serve_peers.py", dir + "/data/parquet", tenant, zone, dir + "/peer-ranges.txt"])
        guard let peers = try JSONSerialization.jsonObject(with: Data(peersOut.utf8)) as? [String: [String: Any]] else {
            throw RuntimeFailure("serve_peers.py: \(peersOut)")
        }
        var ours: [[Int]] = []
        for (a, b) in sample {
            let body = try curl(base + "/v1/dashboard?from=\(enc(a))&to=\(enc(b))&granularity=day", token: token)
            let j = try JSONSerialization.jsonObject(with: Data(body.utf8)) as! [String: Any]
            let s = j["sales"] as! [String: Any]
            ours.append(["orders", "gross_revenue_cents", "items_sold", "unique_customers", "new_customers"].map { s[$0] as! Int })
        }
        for (name, p) in peers {
            let answers = p["answers"] as! [[Any]]
            for (i, a) in answers.enumerated() where (a.prefix(5).map { $0 as! Int }) != ours[i] {
                throw RuntimeFailure("\(name) disagrees on \(sample[i]): \(a.prefix(5)) vs ours \(ours[i])")
            }
        }
        let p50 = (kv["p50"] ?? 0) / 1000, p99 = (kv["p99"] ?? 0) / 1000
        print("tenant \(tenant): \(orders) orders over \(dayCount) days; \(ranges) distinct ranges of 1–365 days; wrk -t1 -c\(connections) -d\(seconds)s")
        print(pad("engine", 20) + "      p50 ms      p99 ms       req/s")
        print(pad("wakala serve", 20) + String(format: " %11.2f %11.2f %11.0f", p50, p99, rps))
        for name in ["duckdb", "chdb"] {
            guard let p = peers[name] else { continue }
            let med = p["median_ms"] as! Double, q99 = p["p99_ms"] as! Double
            print(pad("\(name) (Parquet)", 20) + String(format: " %11.2f %11.2f %11.1f   (%.0fx wakala's p50)", med, q99, 1000 / med, med / p50))
        }
        print("answers: the \(sample.count) sampled ranges agree across wakala, " + peers.keys.sorted().joined(separator: " and "))
    }

    struct Seeded {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}

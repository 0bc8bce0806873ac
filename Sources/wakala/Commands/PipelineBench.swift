import ArgumentParser
import Foundation
import Sinks

/// `wakala bench pipeline`: the whole pipeline end to end over a generated stream — `replay`
/// without sinks and `replay --sinks` (Postgres read models, Parquet, derived events and dead
/// letters, exactly once) — against DuckDB's hourly rollup of the same NDJSON, in the same run,
/// with each process's peak RSS; `--rss-days` adds peak RSS against stream length.
struct PipelineBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pipeline",
        abstract: "replay (with and without every sink) vs DuckDB's hourly rollup over the same NDJSON; peak RSS against stream length.",
        discussion: """
        The stream: `wakala generate --seed 7 --tenants 20 --days N --disorder 20s --duplicates \
        0.01` (a generated week by default). Ours runs every operator of Pipelines/analytics.yaml; \
        DuckDB (2 threads, the machine's cores) only counts and sums order.created per tenant and \
        hour — the peer's figure is a floor for one rollup, ours is the whole pipeline. Each \
        process runs under /usr/bin/time for its peak RSS. Needs duckdb (pip): scripts/setup.
        """)

    @Option(help: "Days of the stream.") var days: Int = 7
    @Option(help: "Tenants of the stream.") var tenants: Int = 20
    @Flag(help: "Also run Apache Flink (PyFlink SQL, parallelism 2; pip install apache-flink, Java 17) on the same rollup, streaming and batch mode.")
    var flink = false
    @Option(help: "Also measure replay --sinks peak RSS over streams of these many days (50 tenants, as issue 15), e.g. 7,30,60.")
    var rssDays: String?

    struct Run { var seconds: Double; var rssKB: Int; var stderr: String }

    /// Runs a command under /usr/bin/time: wall seconds and peak RSS.
    static func timed(_ args: [String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/time")
        p.arguments = ["-f", "WAKALA_TIME %e %M"] + args
        let path = NSTemporaryDirectory() + "wakala-bench-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard p.terminationStatus == 0, let line = text.split(separator: "\n").last(where: { $0.hasPrefix("WAKALA_TIME ") }) else {
            throw RuntimeFailure("\(args.prefix(2).joined(separator: " ")) failed: \(text.suffix(600))")
        }
        let f = line.split(separator: " ")
        return Run(seconds: Double(f[1]) ?? 0, rssKB: Int(f[2]) ?? 0, stderr: text)
    }

    func run() throws {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let scratch = try BenchScratch("pipeline")
        defer { scratch.remove() }
        let dir = scratch.dir, pg = scratch.pg

        let input = dir + "/stream.ndjson"
        _ = try Self.timed([me, "generate", "--seed", "7", "--tenants", String(tenants), "--days", String(days), "--disorder", "20s",
                            "--duplicates", "0.01", "--out", input])
        let records = try Self.lines(input)
        let bare = try Self.timed([me, "replay", "--pipeline", "Pipelines/analytics.yaml", "--input", input, "--out", dir + "/bare"])
        let url = try pg.createDatabase("sinks")
        let sinks = try Self.timed([me, "replay", "--pipeline", "Pipelines/analytics.yaml", "--input", input, "--sinks", "--postgres", url,
                                    "--data", dir + "/sinks"])
        let duck = try Self.duckdbRollup(input)
        var flinkSeconds: [(String, Double)] = []
        if flink {
            for mode in ["streaming", "batch"] {
                let out = try capture(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "scripts/bench/flink_rollup.py", input, mode])
                guard let s = out.split(separator: "\n").last.flatMap({ $0.split(separator: " ").first }).flatMap({ Double($0) }) else {
                    throw RuntimeFailure("flink said: \(out.suffix(400))")
                }
                flinkSeconds.append((mode, s))
            }
        }

        print("stream: \(records) records (\(tenants) tenants × \(days) days, 1 % duplicates, 20 s disorder)")
        func row(_ name: String, _ seconds: Double, _ rss: Int?) {
            print(pad(name, 52) + String(format: " %8.2f s %11.0f /s", seconds, Double(records) / seconds) + (rss.map { String(format: " %8.0f MB", Double($0) / 1024) } ?? ""))
        }
        print(pad("", 52) + "      time      events/s   peak RSS")
        row("wakala replay (every operator, no sinks)", bare.seconds, bare.rssKB)
        row("wakala replay --sinks (every operator and sink)", sinks.seconds, sinks.rssKB)
        row("DuckDB hourly rollup of order.created (2 threads)", duck, nil)
        for (mode, s) in flinkSeconds { row("Flink SQL hourly rollup, \(mode) (parallelism 2)", s, nil) }
        print(String(format: "ratios: replay --sinks %.2fx DuckDB's rollup rate (target ≥ 0.25); replay %.2fx", duck / sinks.seconds, duck / bare.seconds))
        for (mode, s) in flinkSeconds {
            print(String(format: "        replay --sinks %.1fx Flink's %@ rollup rate; replay %.1fx", s / sinks.seconds, mode, s / bare.seconds))
        }

        guard let rssDays else { return }
        print("replay --sinks peak RSS against stream length (50 tenants, seed 11, 20 s disorder, 1 % duplicates):")
        for d in rssDays.split(separator: ",").compactMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            let file = dir + "/rss-\(d).ndjson.zst"
            _ = try Self.timed([me, "generate", "--seed", "11", "--tenants", "50", "--days", String(d), "--disorder", "20s", "--duplicates", "0.01", "--out", file])
            let db = try pg.createDatabase("rss\(d)")
            let r = try Self.timed([me, "replay", "--pipeline", "Pipelines/analytics.yaml", "--input", file, "--sinks", "--postgres", db, "--data", dir + "/rss-\(d)"])
            let n = r.stderr.split(separator: "\n").first { $0.hasPrefix("replayed ") }.flatMap { $0.split(separator: " ").dropFirst().first }.map(String.init) ?? "?"
            let heap = r.stderr.split(separator: "\n").first { $0.contains("heap in use at most ") }
                .flatMap { $0.split(separator: " ").drop { $0 != "most" }.dropFirst().first }.map(String.init) ?? "?"
            print(String(format: "  %3d days: %@ records, %.1f s, peak RSS %.0f MB, live heap at most %@ MB", d, n, r.seconds, Double(r.rssKB) / 1024, heap))
            try? FileManager.default.removeItem(atPath: file)
            try? FileManager.default.removeItem(atPath: dir + "/rss-\(d)")
        }
    }

    static func lines(_ path: String) throws -> Int {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// DuckDB: count and sum of order.created per tenant and hour over the NDJSON, best of 3 (s).
    static func duckdbRollup(_ input: String) throws -> Double {
        let script = """
        import duckdb, sys, time
        con = duckdb.connect(config={'threads': 2})
        q = \"\"\"SELECT tenant_id, date_trunc('hour', CAST("timestamp" AS TIMESTAMPTZ)) AS h, count(*),
          sum(CAST(json_extract_string(data, '$.total_amount') AS DECIMAL(18,2)))
          FROM read_json(?, format='newline_delimited', columns={event_id: 'VARCHAR', event_type: 'VARCHAR', "timestamp": 'VARCHAR', tenant_id: 'VARCHAR', data: 'JSON'}, ignore_errors=true)
          WHERE event_type = 'order.created' GROUP BY ALL\"\"\"
        best = 1e9
        for _ in range(3):
            t = time.perf_counter(); con.execute(q, [sys.argv[1]]).fetchall(); best = min(best, time.perf_counter() - t)
        print(best)
        """
        let out = try capture(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, input])
        guard let s = Double(out.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw RuntimeFailure("duckdb said: \(out)") }
        return s
    }
}

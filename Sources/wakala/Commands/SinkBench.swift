import ArgumentParser
import Domain
import Foundation
import Ingest
import Operators
import Sinks
import Postgres

/// `wakala bench parquet`: our Parquet writer vs pyarrow writing the same rows with zstd.
struct ParquetBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "parquet",
        abstract: "Write the `events` table of a generated stream with our Parquet writer vs pyarrow (same rows, zstd).")

    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 2
    @Option(help: "Timed rounds (the best counts).") var rounds: Int = 3
    @Option(help: "Scratch folder.") var dir: String = NSTemporaryDirectory() + "wakala-bench-parquet"

    func run() throws {
        let records = benchStream(tenants: tenants, days: days, duplicates: 0)
        let decoder = EventDecoder()
        var rows: [[ParquetValue]] = []
        var inputBytes = 0
        for r in records {
            guard case .success(let e) = decoder.decode(r.value) else { continue }
            let row = ParquetTables.eventRow(e, raw: r.value)
            for v in row {
                switch v {
                case .string(let s): inputBytes += s.utf8.count
                case .int, .double: inputBytes += 8
                default: inputBytes += 1
                }
            }
            rows.append(row)
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ours = dir + "/ours.parquet"
        var best = Double.infinity
        var size: Int64 = 0
        for _ in 0..<rounds {
            let t0 = monotonicSeconds()
            let w = try ParquetWriter(path: ours, columns: ParquetTables.events)
            for row in rows { try w.append(row) }
            size = try w.close()
            best = min(best, monotonicSeconds() - t0)
        }
        print("events rows: \(rows.count), \(inputBytes / 1_000_000) MB of values (\(inputBytes / max(1, rows.count)) bytes/row)")
        print(String(format: "ours (wakala ParquetWriter, zstd level 1): %.2f s, %.1f MB/s, %.0f rows/s, file %.1f MB",
                     best, Double(inputBytes) / best / 1e6, Double(rows.count) / best, Double(size) / 1e6))
        // The peer: pyarrow reads our file (untimed), then writes the same table with zstd (timed).
        let script = """
            import sys, time, os, pyarrow.parquet as pq
            t = pq.read_table(sys.argv[1])
            best = 1e9
            for _ in range(int(sys.argv[3])):
                t0 = time.perf_counter()
                pq.write_table(t, sys.argv[2], compression="zstd", compression_level=1, row_group_size=100000)
                best = min(best, time.perf_counter() - t0)
            print(best, os.path.getsize(sys.argv[2]))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, ours, dir + "/pyarrow.parquet", String(rounds)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let parts = text.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard p.terminationStatus == 0, parts.count == 2 else { throw RuntimeFailure("pyarrow peer failed (pip install pyarrow)") }
        print(String(format: "pyarrow %@ write_table (zstd level 1, row groups of 100,000): %.2f s, %.1f MB/s, file %.1f MB",
                     pyarrowVersion(), parts[0], Double(inputBytes) / parts[0] / 1e6, parts[1] / 1e6))
        print(String(format: "ratio: ours takes %.2fx pyarrow's time", best / parts[0]))
    }

    func pyarrowVersion() -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import pyarrow; print(pyarrow.__version__)"]
        let out = Pipe()
        p.standardOutput = out
        try? p.run()
        let v = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return v.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// `wakala bench postgres`: read-model rows through our checkpoint path (COPY into staging + one
/// upsert per table, in a transaction) vs `psql \copy` of the same rows into an empty table.
struct PostgresBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "postgres",
        abstract: "Read-model writes (COPY + upsert per table) vs psql \\copy of the same rows.")

    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 3
    @Option(help: "Postgres URL (env WAKALA_POSTGRES_URL); a private server is started when not given.") var postgres: String?

    func run() throws {
        // Read-model rows of a whole replay, as one checkpoint would write them.
        let config = try loadPipeline("Pipelines/analytics.yaml")
        let runner = try PipelineRunner(config: config)
        let decoder = EventDecoder()
        var events: [Timestamped<Event>] = []
        for r in benchStream(tenants: tenants, days: days, duplicates: 0.01) {
            if case .success(let e) = decoder.decode(r.value) { events.append(Timestamped(time: e.time, value: e)) }
        }
        for b in stride(from: 0, to: events.count, by: 4096) { runner.process(partition: 0, events: Array(events[b..<min(b + 4096, events.count)]), now: 0) }
        runner.finish()
        let rows = runner.drainReadModels()
        var local: LocalPostgres?
        let url: String
        if let u = postgres ?? env("WAKALA_POSTGRES_URL") { url = u } else {
            let l = try LocalPostgres(directory: URL(fileURLWithPath: NSTemporaryDirectory() + "wakala-bench-pg-\(getpid())"))
            local = l
            url = try l.createDatabase("bench")
        }
        defer { try? local?.remove() }
        let db = try PGConnection(url: url)
        try db.execute("DROP SCHEMA IF EXISTS wakala CASCADE")
        try Migrations.run(db)
        let tf = monotonicSeconds()
        _ = try ReadModelSink.copyText(rows)
        let formatting = monotonicSeconds() - tf
        let t0 = monotonicSeconds()
        try db.transaction { try ReadModelSink.writeReadModels(rows, db) }
        let ours = monotonicSeconds() - t0
        // The peer: the same rows as COPY text files, loaded with psql \copy into empty copies.
        let dir = NSTemporaryDirectory() + "wakala-bench-copy-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var commands: [String] = []
        for (table, text) in try ReadModelSink.copyText(rows) {
            // Same columns, keys and indexes as the read model.
            try db.execute("CREATE TABLE wakala.peer_\(table) (LIKE wakala.\(table) INCLUDING ALL)")
            let path = "\(dir)/\(table).copy"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            commands.append("\\copy wakala.peer_\(table) (\(ReadModelSink.copyColumns(rows, table).joined(separator: ", "))) FROM '\(path)'")
        }
        let script = dir + "/load.sql"
        try ("BEGIN;\n" + commands.joined(separator: "\n") + "\nCOMMIT;\n").write(toFile: script, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", script]
        let t1 = monotonicSeconds()
        try p.run()
        p.waitUntilExit()
        let peer = monotonicSeconds() - t1
        guard p.terminationStatus == 0 else { throw RuntimeFailure("psql \\copy failed") }
        let tables = Set(rows.map(\.table)).count
        print("read-model rows: \(rows.count) in \(tables) tables (\(tenants) tenants × \(days) days)")
        print(String(format: "ours (COPY into staging + INSERT … ON CONFLICT per table, one transaction): %.2f s, %.0f rows/s", ours, Double(rows.count) / ours))
        print(String(format: "psql \\copy of the same rows into empty tables (psql start included): %.2f s, %.0f rows/s", peer, Double(rows.count) / peer))
        print(String(format: "ratio: ours takes %.2fx psql \\copy's time (of ours, %.2f s is formatting the rows as COPY text)", ours / peer, formatting))
    }
}

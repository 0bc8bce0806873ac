import Foundation
import Ingest
import Sinks
import Testing
import TestSupport
import Postgres

/// CONTRACT §3.3–3.5, exactly once: `wakala replay --sinks` killed with SIGKILL at random points
/// (between and during checkpoints) and restarted each time ends with the same read models, the
/// same Parquet tables (read by DuckDB), the same derived-event ids and dead letters as an
/// uninterrupted run, and no file that the manifest does not name.
@Suite(.serialized) struct ExactlyOnceTests {
    static let readModelTables = ["tenants", "orders", "order_status_history", "order_transition_rejections", "deliveries",
                                  "tenant_usage", "rollup_hourly", "rollup_daily", "rollup_products", "rollup_payments",
                                  "rollup_deliveries", "rollup_messages", "orders_per_hour"]

    /// Every read-model table, all columns as text, sorted.
    static func readModels(_ url: String) throws -> [String: [[String?]]] {
        let db = try PGConnection(url: url)
        var out: [String: [[String?]]] = [:]
        for t in readModelTables {
            let cols = try db.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'wakala' AND table_name = $1", [t])
            let n = Int(cols.rows[0][0]!)!
            guard n > 0 else { out[t] = []; continue } // a pipeline whose sinks do not make this table
            out[t] = try db.query("SELECT * FROM wakala.\(t) ORDER BY \((1...n).map(String.init).joined(separator: ", "))").rows
        }
        return out
    }

    static func sinkState(_ dir: String) throws -> [String: Any] {
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/sink_state.py", dir], timeout: 300)
        guard r.status == 0, let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            Issue.record("sink_state.py failed: \(r.stderr)")
            return [:]
        }
        return doc
    }

    /// Files on disk vs the manifest: both ways, and no temporary files.
    static func orphans(_ dir: String, _ url: String) throws -> (onDiskOnly: [String], manifestOnly: [String]) {
        let db = try PGConnection(url: url)
        let manifest = Set(try db.query("SELECT path FROM wakala.file_manifest").rows.compactMap { $0[0] })
        var disk = Set<String>()
        for case let f as String in FileManager.default.enumerator(atPath: dir) ?? FileManager.default.enumerator(atPath: "/")! {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + f, isDirectory: &isDir), !isDir.boolValue { disk.insert(dir + "/" + f) }
        }
        return (disk.subtracting(manifest).sorted(), manifest.subtracting(disk).sorted())
    }

    /// A scratch folder (removed by the caller's defer) and a generated stream in it (one day
    /// unless `days` says otherwise).
    static func scratch(_ name: String, seed: Int, tenants: Int, days: Int = 1, extra: [String]) throws -> (work: String, input: String) {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let input = work + "/stream.ndjson"
        let gen = try runProcess(try wakalaBinary(), ["generate", "--seed", String(seed), "--tenants", String(tenants), "--days", String(days),
                                                      "--disorder", "20s", "--out", input] + extra, timeout: 300)
        #expect(gen.status == 0, "\(gen.stderr)")
        return (work, input)
    }

    /// `wakala replay --sinks` of `input` into `url` and `dir`, a checkpoint every two batches.
    static func replayArgs(_ input: String, _ url: String, _ dir: String) -> [String] {
        ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", input, "--sinks", "--postgres", url, "--data", dir,
         "--checkpoint-records", "1024", "--batch", "512"]
    }

    /// Runs `wakala args` killed with SIGKILL `kills` times at random points and restarted each
    /// time, until a run finishes by itself. A kill point is chosen by progress, not by the clock
    /// (a whole run may take a second, less on a faster build or after a restart):
    /// `checkpointsApart` checkpoints past where that run started, then 0–20 ms more, so kills
    /// land between checkpoints and in the middle of one. The seed (`WAKALA_TEST_SEED` to repeat
    /// one) is in every failure.
    @discardableResult
    static func runKilled(_ args: [String], url: String, kills wanted: Int, checkpointsApart: ClosedRange<Int>,
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> UInt64 {
        let seed = UInt64(ProcessInfo.processInfo.environment["WAKALA_TEST_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        var rng = SplitMix64(seed: seed)
        let watch = CheckpointWatch(url)
        func committed() -> Int { watch.id() ?? 0 }
        var kills = 0, runs = 0
        var finished = false
        while !finished && runs < 200 {
            runs += 1
            let p = Process()
            p.executableURL = try wakalaBinary()
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            if kills < wanted {
                let target = committed() + Int.random(in: checkpointsApart, using: &rng)
                let deadline = Date().addingTimeInterval(300)
                while p.isRunning && committed() < target && Date() < deadline { usleep(2_000) }
                usleep(UInt32.random(in: 0...20_000, using: &rng))
                if p.isRunning {
                    kill(p.processIdentifier, SIGKILL)
                    kills += 1
                }
            }
            p.waitUntilExit()
            finished = p.terminationReason == .exit && p.terminationStatus == 0
            if p.terminationReason == .exit && p.terminationStatus != 0 {
                Issue.record("run \(runs) failed with \(p.terminationStatus) (seed \(seed))", sourceLocation: sourceLocation)
                break
            }
        }
        #expect(finished, "seed \(seed)", sourceLocation: sourceLocation)
        #expect(kills >= wanted - 1, "only \(kills) kills landed while the process ran (seed \(seed))", sourceLocation: sourceLocation)
        return seed
    }

    /// `replay --sinks` of `input` (``replayArgs(_:_:_:)``) twice: uninterrupted into A, and
    /// killed and restarted (``runKilled(_:url:kills:checkpointsApart:sourceLocation:)``) into B.
    static func uninterruptedAndKilled(_ name: String, _ input: String, work: String, kills: Int, checkpointsApart: ClosedRange<Int>,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws
        -> (urlA: String, dirA: String, urlB: String, dirB: String, seed: UInt64) {
        let urlA = try TestDatabase.fresh(name + "_a"), dirA = work + "/a"
        let a = try runProcess(try wakalaBinary(), replayArgs(input, urlA, dirA), timeout: 900)
        #expect(a.status == 0, "\(a.stderr)", sourceLocation: sourceLocation)
        let urlB = try TestDatabase.fresh(name + "_b"), dirB = work + "/b"
        let seed = try runKilled(replayArgs(input, urlB, dirB), url: urlB, kills: kills, checkpointsApart: checkpointsApart,
                                 sourceLocation: sourceLocation)
        return (urlA, dirA, urlB, dirB, seed)
    }

    @Test func sigkillAtRandomPointsChangesNothing() throws {
        let (work, input) = try Self.scratch("eo", seed: 11, tenants: 6, extra: ["--duplicates", "0.01", "--malformed", "0.001"])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let (urlA, dirA, urlB, dirB, seed) = try Self.uninterruptedAndKilled("eo", input, work: work, kills: 6, checkpointsApart: 1...4)

        let modelsA = try Self.readModels(urlA), modelsB = try Self.readModels(urlB)
        for t in Self.readModelTables {
            let ra = modelsA[t]!, rb = modelsB[t]!
            let same = ra == rb
            let first = zip(ra, rb).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "counts \(ra.count) vs \(rb.count)"
            #expect(same, "read model \(t) differs (seed \(seed)): \(first)")
        }
        #expect(modelsA["orders"]!.count > 50 && modelsA["rollup_hourly"]!.count > 50 && modelsA["order_status_history"]!.count > 200)
        let sa = try Self.sinkState(dirA), sb = try Self.sinkState(dirB)
        #expect((sa["tables"] as? NSDictionary) == (sb["tables"] as? NSDictionary))
        #expect(((sa["tables"] as? [String: [String: Any]])?["events"]?["rows"] as? Int ?? 0) > 10_000)
        for (name, t) in (sb["tables"] as? [String: [String: Any]]) ?? [:] {
            #expect(t["rows"] as? Int == t["pyarrow_rows"] as? Int, "\(name): DuckDB and pyarrow disagree")
        }
        #expect((sa["derived"] as? NSDictionary) == (sb["derived"] as? NSDictionary))
        let derived = sb["derived"] as? [String: Any]
        #expect(derived?["count"] as? Int == derived?["distinct"] as? Int) // no derived event twice
        #expect((derived?["count"] as? Int ?? 0) > 1_000)
        #expect((sa["dlq"] as? NSDictionary) == (sb["dlq"] as? NSDictionary))
        #expect(((sb["dlq"] as? [String: Any])?["count"] as? Int ?? 0) > 0)
        for (url, dir) in [(urlA, dirA), (urlB, dirB)] {
            let o = try Self.orphans(dir, url)
            #expect(o.onDiskOnly.isEmpty, "files no manifest names: \(o.onDiskOnly.prefix(5))")
            #expect(o.manifestOnly.isEmpty, "manifest rows without a file: \(o.manifestOnly.prefix(5))")
        }
    }

    /// Postgres stopped in the middle of a run and started again: the run waits (logging why),
    /// resumes, and ends with exactly what an undisturbed run has.
    @Test func postgresOutageMidRunLosesAndDuplicatesNothing() throws {
        let (work, input) = try Self.scratch("outage", seed: 12, tenants: 6, extra: ["--duplicates", "0.01"])
        defer { try? FileManager.default.removeItem(atPath: work) }
        func args(_ url: String, _ dir: String) -> [String] { Self.replayArgs(input, url, dir) }
        let urlA = try TestDatabase.fresh("outage_a"), dirA = work + "/a"
        let a = try runProcess(try wakalaBinary(), args(urlA, dirA), timeout: 900)
        #expect(a.status == 0, "\(a.stderr)")

        // A server of its own, to stop and start.
        let pg = try LocalPostgres(directory: URL(fileURLWithPath: work + "/pg"))
        defer { try? pg.remove() }
        let urlB = try pg.createDatabase("outage_b"), dirB = work + "/b"
        let p = Process()
        p.executableURL = try wakalaBinary()
        p.arguments = args(urlB, dirB)
        let log = work + "/b.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let watch = CheckpointWatch(urlB)
        func checkpointID() -> Int { watch.id() ?? -1 }
        func waitFor(_ what: String, timeout: Double, _ condition: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end { if condition() { return true }; usleep(20_000) }
            Issue.record("timed out waiting for \(what)")
            return false
        }
        #expect(waitFor("a first checkpoint", timeout: 120) { checkpointID() >= 2 || !p.isRunning })
        #expect(p.isRunning, "the run ended before Postgres could be stopped")
        try pg.stop()
        let logged = waitFor("the run to report the outage", timeout: 120) {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("input paused, retrying") == true || !p.isRunning
        }
        #expect(logged)
        #expect(p.isRunning, "the run gave up while Postgres was down")
        try pg.start()
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("retries)"), "the summary names the retries: \(text.suffix(300))")

        let modelsA = try Self.readModels(urlA), modelsB = try Self.readModels(urlB)
        for t in Self.readModelTables { #expect(modelsA[t]! == modelsB[t]!, "read model \(t) differs") }
        let sa = try Self.sinkState(dirA), sb = try Self.sinkState(dirB)
        #expect((sa["tables"] as? NSDictionary) == (sb["tables"] as? NSDictionary))
        #expect((sa["derived"] as? NSDictionary) == (sb["derived"] as? NSDictionary))
        let derived = sb["derived"] as? [String: Any]
        #expect(derived?["count"] as? Int == derived?["distinct"] as? Int)
        let o = try Self.orphans(dirB, urlB)
        #expect(o.onDiskOnly.isEmpty && o.manifestOnly.isEmpty)
    }

    /// Kafka mode: derived events on the operators' output topics and dead letters on `wakala.dlq`,
    /// read back by kcat — the same ids and dead letters as the files of a file-mode run.
    @Test func derivedEventsAndDeadLettersToKafka() throws {
        let kcat = URL(fileURLWithPath: "/usr/bin/kcat")
        try #require(FileManager.default.isExecutableFile(atPath: kcat.path), "kcat is not installed (apt-get install kcat)")
        let (work, input) = try Self.scratch("kafka-sink", seed: 13, tenants: 4, extra: ["--malformed", "0.002"])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let common = ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", input, "--sinks", "--checkpoint-records", "2048"]
        let urlA = try TestDatabase.fresh("kafka_a"), dirA = work + "/a"
        let a = try runProcess(try wakalaBinary(), common + ["--postgres", urlA, "--data", dirA], timeout: 900)
        #expect(a.status == 0, "\(a.stderr)")

        let broker = try Daemon(try wakalaBinary(), ["broker", "--partitions", "2"])
        defer { broker.stop() }
        let bootstrap = try broker.waitForLine(prefix: "bootstrap:")
        let urlB = try TestDatabase.fresh("kafka_b"), dirB = work + "/b"
        let b = try runProcess(try wakalaBinary(), common + ["--postgres", urlB, "--data", dirB, "--brokers", bootstrap], timeout: 900)
        #expect(b.status == 0, "\(b.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dirB + "/derived"))

        func topic(_ t: String) throws -> [[String: Any]] {
            let r = try runProcess(kcat, ["-b", bootstrap, "-C", "-t", t, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"], timeout: 60)
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: "\t", maxSplits: 1)
                guard parts.count == 2, var doc = try? JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as? [String: Any] else { return nil }
                doc["_key"] = String(parts[0])
                return doc
            }
        }
        var ids: [String] = []
        for t in ["order-status", "quota-alerts", "delivery-eta"] {
            let records = try topic(t)
            #expect(!records.isEmpty, "\(t) is empty")
            // Keyed by tenant, in the derived envelope.
            #expect(records.allSatisfy { ($0["_key"] as? String) == ($0["tenant_id"] as? String) && ($0["causation_id"] as? String) != nil })
            ids += records.compactMap { $0["event_id"] as? String }
        }
        let fileIDs = try FileManager.default.contentsOfDirectory(atPath: dirA + "/derived").filter { $0.hasPrefix("part-") }.flatMap { f in
            try String(contentsOfFile: dirA + "/derived/" + f, encoding: .utf8).split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["event_id"] as? String
            }
        }
        #expect(ids.count == Set(ids).count)
        #expect(ids.sorted() == fileIDs.sorted())
        // Dead letters: the record unchanged as the value, why and where as headers.
        let dlq = try runProcess(kcat, ["-b", bootstrap, "-C", "-t", "wakala.dlq", "-o", "beginning", "-e", "-q", "-f", "%h\n"], timeout: 60)
        let dead = dlq.stdout.split(separator: "\n")
        #expect(!dead.isEmpty)
        #expect(dead.allSatisfy { $0.hasPrefix("reason=") && $0.contains(",source=") && $0.contains(",offset=") }, "\(dead.prefix(3))")
        let fileDead = try FileManager.default.contentsOfDirectory(atPath: dirA + "/dlq").filter { $0.hasPrefix("part-") }.reduce(0) { n, f in
            n + (try String(contentsOfFile: dirA + "/dlq/" + f, encoding: .utf8)).split(separator: "\n").count
        }
        #expect(dead.count == fileDead)
    }

    /// SIGTERM: the run takes a last checkpoint and exits 0; the same command again resumes there
    /// and ends equal to an uninterrupted run.
    @Test func sigtermCheckpointsAndARerunResumes() throws {
        let (work, input) = try Self.scratch("sigterm", seed: 14, tenants: 5, extra: ["--duplicates", "0.01"])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let urlA = try TestDatabase.fresh("term_a"), dirA = work + "/a"
        let a = try runProcess(try wakalaBinary(), Self.replayArgs(input, urlA, dirA), timeout: 900)
        #expect(a.status == 0, "\(a.stderr)")

        let urlB = try TestDatabase.fresh("term_b"), dirB = work + "/b"
        let p = Process()
        p.executableURL = try wakalaBinary()
        p.arguments = Self.replayArgs(input, urlB, dirB)
        let log = work + "/b.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // After the first committed checkpoint, ask it to stop.
        let end = Date().addingTimeInterval(120)
        let watch = CheckpointWatch(urlB)
        func committed() -> Int { watch.id() ?? 0 }
        while p.isRunning && committed() < 1 && Date() < end { usleep(20_000) }
        try #require(p.isRunning, "the run ended before it could be stopped")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "\(text)")
        #expect(text.contains("stopped on a signal"), "\(text.suffix(300))")
        let rerun = try runProcess(try wakalaBinary(), Self.replayArgs(input, urlB, dirB), timeout: 900)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("resumed at checkpoint"))

        let modelsA = try Self.readModels(urlA), modelsB = try Self.readModels(urlB)
        for t in Self.readModelTables { #expect(modelsA[t]! == modelsB[t]!, "read model \(t) differs") }
        let sa = try Self.sinkState(dirA), sb = try Self.sinkState(dirB)
        #expect((sa["tables"] as? NSDictionary) == (sb["tables"] as? NSDictionary))
        #expect((sa["derived"] as? NSDictionary) == (sb["derived"] as? NSDictionary))
        let o = try Self.orphans(dirB, urlB)
        #expect(o.onDiskOnly.isEmpty && o.manifestOnly.isEmpty)
    }
}

/// A failure retrying cannot mend stops the run with exit 1 and a message naming it (a Postgres
/// outage, by contrast, is waited out: `postgresOutageMidRunLosesAndDuplicatesNothing`).
@Suite(.serialized) struct PermanentFailureTests {
    @Test func aFailedStatementStopsTheRunNamingIt() throws {
        let (work, input) = try ExactlyOnceTests.scratch("permanent", seed: 15, tenants: 2, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let url = try TestDatabase.fresh("permanent")
        let db = try PGConnection(url: url)
        try Migrations.run(db)
        // Every rollup row now violates a constraint: the checkpoint's statement fails, every time.
        try db.execute("ALTER TABLE wakala.rollup_hourly ADD CONSTRAINT no_hourly_rollups CHECK (orders < 0)")
        let r = try runProcess(try wakalaBinary(), ExactlyOnceTests.replayArgs(input, url, work + "/data"), timeout: 300)
        #expect(r.status == 1, "\(r.stderr.suffix(500))")
        #expect(r.stderr.contains("no_hourly_rollups"), "\(r.stderr.suffix(500))")
        #expect(!r.stderr.contains("retrying"), "a failed statement is not retried: \(r.stderr.suffix(500))")
        let committed = try db.query("SELECT count(*) FROM wakala.checkpoints").rows[0][0]
        #expect(committed == "0")
    }
}

/// A run's last committed checkpoint, read from its database over one connection (opened again
/// after an error: the database may not exist yet, or a query may fail while the run starts).
final class CheckpointWatch {
    let url: String
    private var db: PGConnection?
    init(_ url: String) { self.url = url }

    /// The checkpoint id (0 before the first), or nil when the database cannot be read now.
    func id() -> Int? {
        if db == nil { db = try? PGConnection(url: url) }
        guard let r = try? db?.query("SELECT checkpoint_id FROM wakala.checkpoints") else { db = nil; return nil }
        return r.rows.first?[0].flatMap { Int($0) } ?? 0
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Domain
import Foundation
import Ingest
import Operators

/// Exactly-once output of a pipeline worker (CONTRACT §3.3–3.5): at each checkpoint the new
/// Parquet files and the derived-event and dead-letter files are written and renamed into place,
/// then ONE Postgres transaction holds the read-model changes, the files' manifest rows, the
/// source offset and the operator-state snapshot. On start, state and offset come from the last
/// committed checkpoint and every file no manifest row names (a crash between the files and the
/// commit) is removed — so whatever kills the process, nothing is lost or counted twice.
///
/// Postgres unreachable or failing: the checkpoint (and with it the input, which waits for it) is
/// retried with exponential backoff, each failure logged, until it commits.
public final class Checkpointer: @unchecked Sendable {
    // Thread use: `checkpoint`/`finish`/`resume` on the caller's thread; `write` (and everything
    // it touches: `db`, `kafka`, `retries`) on the writer queue, never two at once (`idle`).
    public struct Settings: Sendable {
        public var pipeline: String
        public var postgresURL: String
        /// Parquet root (`<root>/<table>/date=…/part-…`).
        public var parquetDir: String
        /// Folder for `derived/` and `dlq/` NDJSON part files.
        public var dataDir: String
        /// Rows per Parquet row group (the parquet sink's `row_group_rows`).
        public var parquetRowGroupRows = 100_000
        /// The task (Kafka: partition p of every input topic; a file: 0): one checkpoint row each.
        public var partition = 0
        /// Names this writer's files (`part-<checkpoint>-<worker>`): the task in Kafka mode, so
        /// tasks sharing a data folder never touch each other's files.
        public var worker = 0
        /// Kafka mode: derived events go to these topics (operator → topic) and dead letters to
        /// `deadLetterTopic` through `kafka`, instead of the `derived/` and `dlq/` files.
        public var derivedTopics: [String: String] = [:]
        public var deadLetterTopic = Topics.deadLetters
        /// Exactly-once Kafka output (``KafkaTransactions``): the brokers and the markers topic.
        /// Derived events and dead letters then go through a transactional producer per task.
        public var transactions: (brokers: String, markerTopic: String)?
        /// First retry delay; doubles up to `maxBackoff`.
        public var backoff = 0.2
        public var maxBackoff = 10.0
        public init(pipeline: String, postgresURL: String, parquetDir: String, dataDir: String) {
            self.pipeline = pipeline; self.postgresURL = postgresURL; self.parquetDir = parquetDir; self.dataDir = dataDir
        }
    }

    public let settings: Settings
    private var db: PGConnection?
    private let log: (String) -> Void
    public private(set) var checkpointID: Int64 = 0
    /// Kafka mode: the next offset to read per input `topic` of the task, as the last committed
    /// checkpoint recorded them (restored by ``resume(_:)``).
    public private(set) var positions: [String: Int64] = [:]
    /// Checkpoint retries so far (each a logged failure).
    public private(set) var retries = 0

    /// Kafka producer for derived events and dead letters (idempotent, `acks=all`), or nil for files.
    private let kafka: KafkaProducer?
    /// Exactly-once Kafka output, set up by ``resume(_:)`` when the settings ask for it.
    private var transactions: KafkaTransactions?

    public init(_ settings: Settings, kafka: KafkaProducer? = nil, log: @escaping (String) -> Void) {
        self.settings = settings
        self.kafka = kafka
        self.log = log
    }

    /// Runs `body` against a healthy connection, reconnecting and retrying with backoff on failures
    /// that can heal (``PGError/isTransient``); a permanent one (a failed statement, a full disk,
    /// a task taken over by another process) is thrown.
    private func withDatabase<T>(_ what: String, _ body: (PGConnection) throws -> T) throws -> T {
        var delay = settings.backoff
        while true {
            do {
                if db == nil || db?.isHealthy == false { db = try PGConnection(url: settings.postgresURL) }
                return try body(db!)
            } catch {
                if error is Fenced { throw error }
                if let e = error as? PGError, !e.isTransient, db?.isHealthy == true {
                    throw PGError("\(what): \(e.message)", sqlState: e.sqlState)
                }
                retries += 1
                db = nil
                log("\(what) failed (\(error)); input paused, retrying in \(String(format: "%.1f", delay)) s")
                Thread.sleep(forTimeInterval: delay)
                delay = min(settings.maxBackoff, delay * 2)
            }
        }
    }

    /// Migrates, restores the runner from the last checkpoint and removes uncommitted files.
    /// Returns the source offset to continue after (0 for a fresh start).
    public func resume(_ runner: PipelineRunner) throws -> Int64 {
        let row = try withDatabase("connecting to Postgres") { db -> [String?]? in
            try Migrations.run(db)
            return try db.query("SELECT checkpoint_id, source_offset, encode(state, 'hex'), positions::text FROM wakala.checkpoints WHERE pipeline = $1 AND partition = $2",
                                [settings.pipeline, String(settings.partition)]).rows.first
        }
        var offset: Int64 = 0
        if let row, let id = row[0].flatMap(Int64.init), let off = row[1].flatMap(Int64.init), let hex = row[2] {
            try runner.restore(Self.unhex(hex))
            checkpointID = id
            offset = off
            if let text = row[3], let doc = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: NSNumber] {
                positions = doc.mapValues { $0.int64Value }
            }
        }
        committedState = (checkpointID, positions)
        if let t = settings.transactions {
            let eos = try KafkaTransactions(brokers: t.brokers, pipeline: settings.pipeline, task: settings.partition,
                                            markerTopic: t.markerTopic, log: log)
            try withDatabase("recovering Kafka transactions") { db in try eos.recover(committed: checkpointID, db) }
            transactions = eos
        }
        let committed = Set(try withDatabase("reading the manifest") { db in
            try db.query("SELECT path FROM wakala.file_manifest WHERE pipeline = $1", [settings.pipeline]).rows.compactMap { $0[0] }
        })
        var removed = 0
        for dir in [settings.parquetDir, settings.dataDir + "/derived", settings.dataDir + "/dlq"] {
            guard let files = FileManager.default.enumerator(atPath: dir) else { continue }
            for case let f as String in files {
                let path = dir + "/" + f
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { continue }
                let name = (f as NSString).lastPathComponent
                // This worker's files only: other tasks may be writing theirs into the same folder.
                let ours = Self.worker(ofFile: name) == settings.worker
                if ours, !committed.contains(path) { try FileManager.default.removeItem(atPath: path); removed += 1 }
            }
        }
        if checkpointID > 0 || removed > 0 {
            log("resumed at checkpoint \(checkpointID), source offset \(offset); removed \(removed) uncommitted file(s)")
        }
        return offset
    }

    /// What one checkpoint writes: taken from the runner at once (a cut), written afterwards.
    struct Job: @unchecked Sendable { // handed to the writer thread and never touched again here
        var id: Int64
        var offset: Int64
        var positions: [String: Int64]
        var watermark: EpochMillis
        var readModels: [ReadModelRow]
        var outputs: [(name: String, results: [StageResult])]
        var tapped: (events: [String: [Timestamped<Event>]], raw: [String: [UInt8]])
        var dead: [DeadLetter]
        var state: [UInt8]
    }

    private let writer = DispatchQueue(label: "wakala.checkpoint-writer")
    private let idle = DispatchSemaphore(value: 1)
    private let failureLock = NSLock()
    nonisolated(unsafe) private var failure: Error?

    /// Takes a checkpoint of the runner (its outputs since the last one, its state, `offset` —
    /// the last source offset processed) and writes and commits it on a writer thread while the
    /// input goes on; the next checkpoint (or ``finish()``) waits for this one first, so at most
    /// one is in flight and commits stay in order. A failure that retrying cannot mend is
    /// thrown by the next call.
    public func checkpoint(_ runner: PipelineRunner, offset: Int64, positions: [String: Int64] = [:]) throws {
        idle.wait()
        if let e = takeFailure() { idle.signal(); throw e }
        checkpointID += 1
        let job = Job(id: checkpointID, offset: offset, positions: positions, watermark: runner.tracker.current, readModels: runner.drainReadModels(),
                      outputs: runner.drainOutputs(), tapped: runner.drainTapped(), dead: runner.drainDeadLetters(),
                      state: try runner.snapshot())
        writer.async { [self] in
            do { try write(job) } catch {
                failureLock.lock(); failure = error; failureLock.unlock()
            }
            idle.signal()
        }
    }

    /// Whether a checkpoint is being written now (the next ``checkpoint(_:offset:positions:)``
    /// would wait for it): the Kafka driver pauses the task's partitions meanwhile.
    public var inFlight: Bool {
        if idle.wait(timeout: .now()) == .timedOut { return true }
        idle.signal()
        return false
    }

    private let committedLock = NSLock()
    nonisolated(unsafe) private var committedState: (id: Int64, positions: [String: Int64]) = (0, [:])

    /// The last checkpoint committed to Postgres and its positions (the driver commits the same
    /// offsets to the Kafka group afterwards, for lag tools).
    public var committed: (id: Int64, positions: [String: Int64]) {
        committedLock.lock()
        defer { committedLock.unlock() }
        return committedState
    }

    /// Waits for the checkpoint in flight; throws if it failed.
    public func finish() throws {
        idle.wait()
        defer { idle.signal() }
        if let e = takeFailure() { throw e }
    }

    private func takeFailure() -> Error? {
        failureLock.lock()
        defer { failureLock.unlock() }
        defer { failure = nil }
        return failure
    }

    /// Writes one checkpoint's files, then commits it (on the writer thread).
    private func write(_ job: Job) throws {
        let id = job.id, outputs = job.outputs, tapped = job.tapped, dead = job.dead, readModels = job.readModels
        var files: [ParquetTables.File] = []
        for (_, events) in tapped.events.sorted(by: { $0.key < $1.key }) {
            files += try ParquetTables.write(events, raw: tapped.raw, root: settings.parquetDir, checkpoint: id, worker: settings.worker,
                                            rowGroupRows: settings.parquetRowGroupRows)
        }
        // Derived events as Kafka carries them (or as part files).
        var derived: [String] = []
        var records: [KafkaTransactions.Record] = []
        let toKafka = kafka != nil || transactions != nil
        for (name, results) in outputs {
            for case .event(let d) in results {
                if toKafka {
                    // Keyed by tenant, to the topic of a kafka sink's input (others have none).
                    if let topic = settings.derivedTopics[name] {
                        records.append(.init(topic: topic, key: Array(d.tenantID.utf8), value: d.jsonBytes, headers: []))
                    }
                } else {
                    derived.append(d.json)
                }
            }
        }
        if toKafka {
            // The record unchanged as the value; why and where as headers (CONTRACT §1).
            for d in dead {
                records.append(.init(topic: settings.deadLetterTopic, key: Array(d.source.utf8), value: d.record, headers: [
                    ("reason", Array(d.reason.rawValue.utf8)), ("detail", Array(d.detail.utf8)), ("source", Array(d.source.utf8)),
                    ("partition", Array(String(d.partition).utf8)), ("offset", Array(String(d.offset).utf8)),
                ]))
            }
        }
        if let kafka, transactions == nil {
            for r in records {
                try r.value.withUnsafeBytes { v in try kafka.produce(topic: r.topic, key: r.key, value: v, headers: r.headers) }
            }
            // Acknowledged by the brokers before the checkpoint commits: at least once (a replay
            // after a crash sends the same ids again, which consumers dedupe: CONTRACT §3.5).
            var delay = settings.backoff
            while true {
                do { try kafka.flush(); break } catch {
                    retries += 1
                    log("delivering checkpoint \(id) to Kafka failed (\(error)); input paused, retrying in \(String(format: "%.1f", delay)) s")
                    Thread.sleep(forTimeInterval: delay)
                    delay = min(settings.maxBackoff, delay * 2)
                }
            }
        } else if !toKafka {
            if let f = try writeLines(derived, dir: settings.dataDir + "/derived", id: id, kind: "derived") { files.append(f) }
            if let f = try writeLines(dead.map(\.json), dir: settings.dataDir + "/dlq", id: id, kind: "dlq") { files.append(f) }
        }
        let state = job.state
        let rows = readModels
        let previous = id - 1
        try withDatabase("checkpoint \(id)") { db in
            try db.transaction {
                // The task's row, locked: still at the checkpoint this writer restored or wrote
                // last (else another process owns the task now), or already at this one (an
                // earlier attempt committed and only its answer was lost: nothing to do).
                let current = try db.query("SELECT checkpoint_id FROM wakala.checkpoints WHERE pipeline = $1 AND partition = $2 FOR UPDATE",
                                           [settings.pipeline, String(settings.partition)]).rows.first?[0].flatMap(Int64.init) ?? 0
                if current == id { return }
                if current != previous { throw Fenced(task: settings.partition, expected: previous) }
                try Self.writeReadModels(rows, db)
                try transactions?.stage(records, checkpoint: id, db)
                if !db.prepared.contains("wakala_manifest") {
                    try db.prepare("wakala_manifest", """
                        INSERT INTO wakala.file_manifest (pipeline, path, checkpoint_id, kind, rows, bytes) VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT (pipeline, path) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id, kind = EXCLUDED.kind,
                          rows = EXCLUDED.rows, bytes = EXCLUDED.bytes
                        """)
                    // Fenced: the row moves only from the checkpoint this writer restored or wrote
                    // last, so a process that lost its task to another cannot overwrite it.
                    try db.prepare("wakala_checkpoint", """
                        INSERT INTO wakala.checkpoints (pipeline, partition, checkpoint_id, source_offset, watermark, state, positions, written_at)
                        VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'), $7::jsonb, now())
                        ON CONFLICT (pipeline, partition) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id,
                          source_offset = EXCLUDED.source_offset, watermark = EXCLUDED.watermark, state = EXCLUDED.state,
                          positions = EXCLUDED.positions, written_at = now()
                        WHERE wakala.checkpoints.checkpoint_id = $8
                        """)
                }
                for f in files {
                    try db.execute(prepared: "wakala_manifest", [settings.pipeline, f.path, String(id), f.table, String(f.rows), String(f.bytes)])
                }
                let n = try db.execute(prepared: "wakala_checkpoint", [settings.pipeline, String(settings.partition), String(id), String(job.offset),
                                                                       String(job.watermark), Self.hex(state), Self.positionsJSON(job.positions),
                                                                       String(previous)])
                if n != 1 { throw Fenced(task: settings.partition, expected: previous) }
            }
        }
        committedLock.lock()
        committedState = (id, job.positions)
        committedLock.unlock()
        // Exactly once to Kafka: Postgres has decided; the records follow in a Kafka transaction.
        if let transactions, !records.isEmpty {
            try transactions.publish(records, checkpoint: id)
            try withDatabase("clearing the Kafka outbox") { db in try transactions.clear(upTo: id, db) }
        }
    }

    /// Another process committed a checkpoint of this task since this one restored it.
    public struct Fenced: Error, CustomStringConvertible {
        public var task: Int
        public var expected: Int64
        public var description: String {
            "task \(task) was taken over by another process (its checkpoint is no longer \(expected)); this process stops writing it"
        }
    }

    static func positionsJSON(_ p: [String: Int64]) -> String {
        "{" + p.sorted { $0.key < $1.key }.map { "\(OutputValue.string($0.key).json):\($0.value)" }.joined(separator: ",") + "}"
    }

    /// The worker that wrote a part file (`part-<checkpoint>-<worker>.<ext>`, or its temporary
    /// `.tmp-part-<checkpoint>-<worker>[.<ext>]-<pid>`), nil for other files.
    static func worker(ofFile name: String) -> Int? {
        let rest = name.hasPrefix(".tmp-part-") ? name.dropFirst(10) : name.hasPrefix("part-") ? name.dropFirst(5) : nil
        guard let rest, let dash = rest.firstIndex(of: "-") else { return nil }
        return Int(rest[rest.index(after: dash)...].prefix { $0.isNumber })
    }

    /// NDJSON part file, written under a temporary name, synced and renamed.
    private func writeLines(_ lines: [String], dir: String, id: Int64, kind: String) throws -> ParquetTables.File? {
        guard !lines.isEmpty else { return nil }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/part-\(id)-\(settings.worker).ndjson"
        let temp = "\(dir)/.tmp-part-\(id)-\(settings.worker)-\(getpid())"
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ParquetError("cannot create \(temp): \(String(cString: strerror(errno)))") }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { Glibc.close(fd); throw ParquetError("write \(temp): \(String(cString: strerror(errno)))") }
            done += n
        }
        guard fsync(fd) == 0 else { Glibc.close(fd); throw ParquetError("fsync \(temp)") }
        Glibc.close(fd)
        guard rename(temp, path) == 0 else { throw ParquetError("rename to \(path): \(String(cString: strerror(errno)))") }
        return ParquetTables.File(path: path, table: kind, rows: Int64(lines.count), bytes: Int64(bytes.count))
    }

    /// Rows per table, tables in first-seen order, the last row per primary key kept (a batch
    /// may not touch one row twice in an upsert).
    static func grouped(_ rows: [ReadModelRow]) throws -> [(table: String, columns: [String], rows: [OutputRow])] {
        var byTable: [String: [OutputRow]] = [:]
        var order: [String] = []
        for r in rows {
            if byTable[r.table] == nil { order.append(r.table) }
            byTable[r.table, default: []].append(r.row)
        }
        return try order.map { table in
            guard let keys = Migrations.primaryKeys[table] else { throw PGError("no read-model table \(table)") }
            let list = byTable[table]!
            var last: [[String?]: Int] = [:]
            for (i, r) in list.enumerated() { last[keys.map { k in r[k].flatMap(text) }] = i }
            let kept = list.enumerated().filter { e in last[keys.map { k in e.element[k].flatMap(text) }] == e.offset }.map(\.element)
            return (table, list[0].fields.map(\.0), kept)
        }
    }

    /// COPY text of each table's rows.
    public static func copyText(_ rows: [ReadModelRow]) throws -> [(table: String, text: String)] {
        try grouped(rows).map { g in (g.table, String(decoding: copyBytes(g.rows), as: UTF8.self)) }
    }

    /// Rows as COPY text bytes, one line each.
    static func copyBytes(_ rows: [OutputRow]) -> [UInt8] {
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
    /// (rows carry current values, so a row written twice is harmless). Inside the caller's
    /// transaction.
    public static func writeReadModels(_ rows: [ReadModelRow], _ db: PGConnection) throws {
        for g in try grouped(rows) {
            let keys = Migrations.primaryKeys[g.table]!
            let quoted = g.columns.map { "\"\($0)\"" }.joined(separator: ", ")
            let stage = "stage_\(g.table)"
            try db.execute("CREATE TEMP TABLE \(stage) (LIKE wakala.\(g.table)) ON COMMIT DROP")
            try db.copy(into: stage, columns: g.columns.map { "\"\($0)\"" }, text: copyBytes(g.rows))
            let updates = g.columns.filter { !keys.contains($0) }.map { "\"\($0)\" = EXCLUDED.\"\($0)\"" }
            try db.execute("""
                INSERT INTO wakala.\(g.table) (\(quoted)) SELECT \(quoted) FROM \(stage)
                ON CONFLICT (\(keys.joined(separator: ", "))) DO \(updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates.joined(separator: ", "))
                """)
        }
    }

    /// A value as Postgres text (nil = NULL).
    static func text(_ v: OutputValue) -> String? {
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "t" : "f"
        case .number(let n): return n
        case .time(let t): return RFC3339.format(t)
        case .strings(let l): return "{" + l.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
        case .null: return nil
        }
    }

    static func hex(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: b.count * 2)
        for (i, x) in b.enumerated() { out[2 * i] = digits[Int(x >> 4)]; out[2 * i + 1] = digits[Int(x & 15)] }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ s: String) throws -> [UInt8] {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { throw PGError("odd hex length") }
        func v(_ c: UInt8) throws -> UInt8 {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: throw PGError("not hex")
            }
        }
        var out = [UInt8](repeating: 0, count: u.count / 2)
        for i in 0..<out.count { out[i] = try v(u[2 * i]) << 4 | v(u[2 * i + 1]) }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CSupport
import Crypto
import Domain
import Foundation
import Metrics
import Ingest
import Operators
import Postgres
import Lifecycle

/// Exactly-once output of one task (CONTRACT §3.3–3.5), coordinating its sinks
/// (``CheckpointSink``: Parquet, part files or Kafka, the read models): at each checkpoint every
/// sink prepares (files written and renamed into place, records delivered), then ONE Postgres
/// transaction holds every sink's part (read models, the Kafka outbox), the files' manifest rows,
/// the source positions and the operator-state snapshot — fenced, so a process that lost the task
/// cannot overwrite it — then every sink finishes (the Kafka transaction). On start, state and
/// positions come from the last committed checkpoint, every file of this task that no manifest
/// row names (a crash between the files and the commit) is removed and unpublished Kafka records
/// are republished — so whatever kills the process, nothing is lost or counted twice.
///
/// Postgres unreachable: the checkpoint (and with it the input, which waits for it) is retried
/// with exponential backoff, each failure logged, until it commits; a failure that cannot heal
/// (a failed statement, a full disk, a fenced task) is thrown.
public final class Checkpointer: @unchecked Sendable {
    // Thread use: `checkpoint`/`finish`/`resume` on the caller's thread; `prepare` (the sinks'
    // prepare: files, at-least-once sends) on the preparer queue; `commit` (and everything it
    // touches: `db`, the sinks' commit and finish, the retry counts) on the writer queue. Each
    // queue runs one checkpoint at a time, in order; at most two are in flight (`idle`).
    public struct Settings: Sendable {
        public var pipeline: String
        public var postgresURL: String
        /// Parquet root (`<root>/<table>/date=…/part-…`).
        public var parquetDir: String
        /// Folder for `derived/` and `dlq/` NDJSON part files.
        public var dataDir: String
        /// Rows per Parquet row group (the parquet sink's `row_group_rows`).
        public var parquetRowGroupRows = ParquetTables.Appender.defaultRowGroupRows
        /// Compaction (the parquet sink's `compact`): the allowed lateness after which a UTC day
        /// is closed — the watermark that far past its end, no event can reach it — and this
        /// task's part files of it are merged into one (``ParquetCompaction``); nil: never.
        public var compaction: Int64?
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
        /// `window_aggregate` operators whose rows the postgres sink keeps (a table each, made on
        /// start) and those whose rows the parquet sink keeps.
        public var windowTables: [WindowTable] = []
        public var parquetWindows: [WindowTable] = []
        /// Where `dlq/` part files go (the dead_letters sink's `path`; default `<dataDir>/dlq`).
        public var deadLetterDir: String?
        /// Seconds the first connection may take (the server starting, a refused port) before
        /// the run gives up (exit 1, naming host and port); after it, an outage pauses the input
        /// and is retried until it heals or a signal stops the process.
        public var connectTimeout = 60.0
        /// The flag or variable the URL came from, named in configuration errors.
        public var postgresSetting = "--postgres"
        public init(pipeline: String, postgresURL: String, parquetDir: String, dataDir: String) {
            self.pipeline = pipeline; self.postgresURL = postgresURL; self.parquetDir = parquetDir; self.dataDir = dataDir
        }
    }

    public let settings: Settings
    private var db: PGConnection?
    private let log: (String) -> Void
    public private(set) var checkpointID: Int64 = 0
    /// What the last checkpoint wrote of the operator state: the snapshot (compressed) plus the
    /// changed keyed entries (bytes).
    public private(set) var lastStateBytes = 0
    /// Keyed entries the last checkpoint wrote (changed or removed keys).
    public private(set) var lastEntries = 0
    /// Keyed entries read by ``resume(_:)`` and the time the restore took (seconds).
    public private(set) var restoredEntries = 0
    public private(set) var restoreSeconds = 0.0
    /// Kafka mode: the next offset to read per input `topic` of the task, as the last committed
    /// checkpoint recorded them (restored by ``resume(_:)``).
    public private(set) var positions: [String: Int64] = [:]
    /// Checkpoint retries so far (each a logged failure).
    public var retries: Int { databaseRetries + (kafkaSink?.retries ?? 0) }
    private var databaseRetries = 0
    /// Set up by ``resume(_:)``.
    private var sinks: [CheckpointSink] = []
    private var kafkaSink: KafkaSink?
    private var parquetSink: ParquetSink?
    /// Merges this task's part files of closed days (the parquet sink's `compact`), set up by ``resume(_:)``.
    private var compaction: ParquetCompaction?

    /// Kafka producer for derived events and dead letters (idempotent, `acks=all`), or nil for files.
    private let kafka: KafkaProducer?
    /// Exactly-once Kafka output, set up by ``resume(_:)`` when the settings ask for it.
    private var transactions: KafkaTransactions?

    /// Outages (a retry after a failure) go here: warning level where the driver has levels;
    /// what was lost or changed (a dead letter cut to fit Kafka) to `error`.
    private let warn: (String) -> Void
    private let error: (String) -> Void

    public init(_ settings: Settings, kafka: KafkaProducer? = nil, log: @escaping (String) -> Void,
                warn: ((String) -> Void)? = nil, error: ((String) -> Void)? = nil) {
        self.settings = settings
        self.kafka = kafka
        self.log = log
        self.warn = warn ?? log
        self.error = error ?? warn ?? log
    }

    /// Runs `body` against a healthy connection, reconnecting and retrying with backoff on failures
    /// that can heal (``PGError/isTransient``); a permanent one (a failed statement, a full disk,
    /// a task taken over by another process) is thrown.
    private func withDatabase<T>(_ what: String, _ body: (PGConnection) throws -> T) throws -> T {
        var delay = settings.backoff
        while true {
            do {
                if db == nil || db?.isHealthy == false {
                    db = nil
                    // The first connection: settings that cannot work fail at once, an unreachable
                    // server is waited for up to the connect timeout. Later: an outage, retried.
                    db = connected ? try PGConnection(url: settings.postgresURL)
                                   : try PGConnection.connect(url: settings.postgresURL, setting: settings.postgresSetting,
                                                              timeout: settings.connectTimeout, log: log)
                    connected = true
                }
                return try body(db!)
            } catch {
                if error is Fenced || error is SettingError || error is PGConnection.Unreachable || error is Shutdown.Interrupted { throw error }
                if let e = error as? PGError, e.isConfiguration { throw SettingError(setting: settings.postgresSetting, e.message) }
                if let e = error as? PGError, !e.isTransient, db?.isHealthy == true {
                    throw PGError("\(what): \(e.message)", sqlState: e.sqlState)
                }
                databaseRetries += 1
                db = nil
                Counter(label: "wakala_postgres_retries_total").increment()
                warn("\(what) failed (\(error)); input paused, retrying in \(String(format: "%.1f", delay)) s")
                try Shutdown.sleep(delay, while: "\(what) (Postgres at \(PGConnection.target(settings.postgresURL)) failing: \(error))")
                delay = min(settings.maxBackoff, delay * 2)
            }
        }
    }

    /// Whether a connection ever succeeded (then failures are outages, retried without end).
    private var connected = false

    // MARK: the input a file replay belongs to

    /// A file replay's input: its path, size and a fingerprint of its head.
    public struct InputIdentity: Sendable, CustomStringConvertible {
        public var path: String
        public var bytes: Int64
        public var headBytes: Int
        public var headSHA256: String
        public var description: String { "\(path) (\(bytes) bytes, first \(headBytes) bytes sha256 \(headSHA256.prefix(16))…)" }

        /// Bytes of the head fingerprinted.
        public static let headLimit = 1 << 16

        /// The identity of the file at `path`, its head read up to `headBytes` (default
        /// ``headLimit``; a recorded identity is checked over its own head length).
        public static func of(path: String, headBytes: Int = headLimit) throws -> InputIdentity {
            let url = URL(fileURLWithPath: path)
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            let h = try FileHandle(forReadingFrom: url)
            defer { try? h.close() }
            let head = try h.read(upToCount: min(headBytes, Int(size))) ?? Data()
            let digest = SHA256.hash(data: head).map { String(format: "%02x", $0) }.joined()
            return InputIdentity(path: url.standardizedFileURL.path, bytes: size, headBytes: head.count, headSHA256: digest)
        }
    }

    /// The checkpoints were made from another input (exit 2: `--data` and a database elsewhere,
    /// or `--reset`).
    public struct OtherInput: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds this pipeline's checkpoints to `input` (call after ``resume(_:)``): a fresh start
    /// records it; a resumed one must read the same file — the same head, at least as long (a
    /// file that grew resumes into its new lines) — else ``OtherInput`` is thrown and nothing runs.
    public func bindInput(_ input: InputIdentity) throws {
        let row = try withDatabase("reading the replay's input") { db in
            try db.query("SELECT path, bytes, head_bytes, head_sha256 FROM wakala.replay_inputs WHERE pipeline = $1", [settings.pipeline]).rows.first
        }
        if checkpointID > 0, let row, let bytes = row[1].flatMap(Int64.init), let headBytes = row[2].flatMap(Int.init), let sha = row[3] {
            let recorded = InputIdentity(path: row[0] ?? "?", bytes: bytes, headBytes: headBytes, headSHA256: sha)
            let now = try InputIdentity.of(path: input.path, headBytes: headBytes)
            guard now.headBytes == headBytes, now.headSHA256 == sha, input.bytes >= bytes else {
                throw OtherInput(description: "the checkpoints of pipeline '\(settings.pipeline)' in Postgres at \(PGConnection.target(settings.postgresURL)) "
                                 + "(checkpoint \(checkpointID)) were made from \(recorded), but the input is \(input): another file. "
                                 + "Resuming would skip its first records. Replay it with another --data and database, or pass --reset "
                                 + "to drop this pipeline's state, read models and files and start over.")
            }
        }
        _ = try withDatabase("recording the replay's input") { db in
            try db.query("""
                INSERT INTO wakala.replay_inputs (pipeline, path, bytes, head_bytes, head_sha256) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (pipeline) DO UPDATE SET path = EXCLUDED.path, bytes = EXCLUDED.bytes, head_bytes = EXCLUDED.head_bytes,
                  head_sha256 = EXCLUDED.head_sha256, recorded_at = now()
                """, [settings.pipeline, input.path, String(input.bytes), String(input.headBytes), input.headSHA256])
        }
    }

    /// `--reset`: drops this pipeline's checkpoints, keyed state, Kafka outbox, recorded input and
    /// file manifest, empties the read-model tables, and deletes the part files under the Parquet,
    /// `derived/` and `dlq/` folders — each said through `describe` before it goes. Call before
    /// ``resume(_:)``.
    public func reset(describe: (String) -> Void) throws {
        let p = settings.pipeline
        try withDatabase("resetting pipeline \(p)") { db in
            try Migrations.run(db)
            func count(_ sql: String) throws -> Int { Int(try db.query(sql, [p]).rows.first?[0] ?? "0") ?? 0 }
            let checkpoints = try count("SELECT count(*) FROM wakala.checkpoints WHERE pipeline = $1")
            let entries = try count("SELECT count(*) FROM wakala.state_entries WHERE pipeline = $1")
            let files = try count("SELECT count(*) FROM wakala.file_manifest WHERE pipeline = $1")
            describe("reset: dropping pipeline '\(p)': \(checkpoints) checkpoint row(s), \(entries) keyed state entries, \(files) committed file(s) in the manifest")
            var models: [String] = []
            // The pipeline's window tables exist only once it ran with them.
            let windows = try settings.windowTables.map(\.table).filter { t in
                try db.query("SELECT to_regclass($1) IS NOT NULL", ["wakala." + t]).rows.first?[0] == "t"
            }
            for t in Migrations.primaryKeys.keys.sorted() + windows {
                let n = Int(try db.query("SELECT count(*) FROM wakala.\(t)").rows.first?[0] ?? "0") ?? 0
                if n > 0 { models.append("\(t) \(n)") }
            }
            describe("reset: emptying the read models" + (models.isEmpty ? " (already empty)" : ": " + models.joined(separator: ", ") + " rows"))
            try db.transaction {
                for t in ["checkpoints", "state_entries", "file_manifest", "kafka_outbox", "kafka_outbox_batches", "internal_topic_starts", "replay_inputs"] {
                    try db.query("DELETE FROM wakala.\(t) WHERE pipeline = $1", [p])
                }
                try db.execute("TRUNCATE " + (Migrations.primaryKeys.keys.sorted() + windows).map { "wakala.\($0)" }.joined(separator: ", "))
            }
        }
        var removed = 0
        for dir in [settings.parquetDir, settings.dataDir + "/derived", settings.deadLetterDir ?? settings.dataDir + "/dlq"] {
            guard let list = FileManager.default.enumerator(atPath: dir) else { continue }
            var doomed: [String] = []
            for case let f as String in list {
                let name = (f as NSString).lastPathComponent
                if name.hasPrefix("part-") || name.hasPrefix(".tmp-part-") { doomed.append(dir + "/" + f) }
            }
            for path in doomed { try FileManager.default.removeItem(atPath: path); removed += 1 }
        }
        describe("reset: deleted \(removed) part file(s) under \(settings.parquetDir), \(settings.dataDir)/derived and \(settings.deadLetterDir ?? settings.dataDir + "/dlq")")
    }

    /// Migrates, restores the runner from the last checkpoint and removes uncommitted files.
    /// Returns the source offset to continue after (0 for a fresh start).
    public func resume(_ runner: PipelineRunner) throws -> Int64 {
        let row = try withDatabase("connecting to Postgres") { db -> [String?]? in
            try Migrations.run(db)
            for w in settings.windowTables { try Migrations.ensureWindowTable(w.table, sums: w.sums, db) }
            return try db.query("SELECT checkpoint_id, source_offset, encode(state, 'hex'), positions::text FROM wakala.checkpoints WHERE pipeline = $1 AND partition = $2",
                                [settings.pipeline, String(settings.partition)]).rows.first
        }
        var offset: Int64 = 0
        // Incremental checkpoints: keyed state as one row per key (``PipelineRunner/changedEntries()``).
        runner.enableIncrementalState()
        if let row, let id = row[0].flatMap(Int64.init), let off = row[1].flatMap(Int64.init), let hex = row[2] {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var entries: [String: [StateEntry]] = [:]
            var count = 0
            try withDatabase("reading the operator state") { db in
                entries = [:]
                count = try db.copyOut("SELECT operator, key, value FROM wakala.state_entries WHERE pipeline = \(Self.literal(settings.pipeline)) AND partition = \(settings.partition)") { f in
                    guard f.count == 3, let op = f[0], let key = f[1], let v = f[2] else { throw PGError("a state entry without its value", sqlState: "XX001") }
                    entries[String(decoding: op, as: UTF8.self), default: []].append(StateEntry(key: String(decoding: key, as: UTF8.self), value: Array(v)))
                }
            }
            try runner.restore(Self.unhex(hex), entries: entries)
            restoredEntries = count
            restoreSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            checkpointID = id
            offset = off
            if let text = row[3], let doc = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: NSNumber] {
                positions = doc.mapValues { $0.int64Value }
            }
        }
        committedState = (checkpointID, positions)
        if let t = settings.transactions {
            let eos = try KafkaTransactions(brokers: t.brokers, pipeline: settings.pipeline, task: settings.partition,
                                            markerTopic: t.markerTopic, derivedTopics: settings.derivedTopics,
                                            deadLetterTopic: settings.deadLetterTopic, log: warn, logError: error)
            try withDatabase("recovering Kafka transactions") { db in try eos.recover(committed: checkpointID, db) }
            transactions = eos
        }
        // The sinks, in the order they prepare: Parquet; derived events and dead letters to Kafka
        // exactly once, at least once, or to part files; the read models.
        let parquet = ParquetSink(root: settings.parquetDir, worker: settings.worker, rowGroupRows: settings.parquetRowGroupRows,
                                  windows: settings.parquetWindows)
        parquetSink = parquet
        var list: [CheckpointSink] = [parquet]
        if let transactions {
            list.append(transactions)
        } else if let kafka {
            let k = KafkaSink(producer: kafka, derivedTopics: settings.derivedTopics, deadLetterTopic: settings.deadLetterTopic,
                              backoff: settings.backoff, maxBackoff: settings.maxBackoff, log: warn, logError: error)
            kafkaSink = k
            list.append(k)
        } else {
            list.append(PartFileSink(dataDir: settings.dataDir, worker: settings.worker, derivedFrom: Set(settings.derivedTopics.keys),
                                     deadLetterDir: settings.deadLetterDir))
        }
        list.append(ReadModelSink())
        sinks = list
        let manifest = try withDatabase("reading the manifest") { db in
            try db.query("SELECT path, kind, rows, bytes FROM wakala.file_manifest WHERE pipeline = $1", [settings.pipeline]).rows
        }
        let committed = Set(manifest.compactMap { $0[0] })
        if let lateness = settings.compaction, parquetSink != nil {
            let root = settings.parquetDir, worker = settings.worker
            let ours = manifest.compactMap { r -> ParquetTables.File? in
                guard let path = r[0], let table = r[1], let rows = r[2].flatMap(Int64.init), let bytes = r[3].flatMap(Int64.init),
                      path.hasPrefix(root + "/"), Self.worker(ofFile: (path as NSString).lastPathComponent) == worker else { return nil }
                return ParquetTables.File(path: path, table: table, rows: rows, bytes: bytes)
            }
            let windows = Dictionary(settings.parquetWindows.map { ($0.table, ParquetTables.windowColumns(sums: $0.sums)) }, uniquingKeysWith: { a, _ in a })
            compaction = ParquetCompaction(root: root, worker: worker, lateness: lateness, rowGroupRows: settings.parquetRowGroupRows,
                                           committed: ours, extraTables: windows, log: log)
        }
        var removed = 0
        for dir in [settings.parquetDir, settings.dataDir + "/derived", settings.deadLetterDir ?? settings.dataDir + "/dlq"] {
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
        var cut: CheckpointCut
        var state: [UInt8]
        var entries: [(operator: String, entries: [StateEntry])]
    }

    /// Two stages, each a serial queue: the preparer finishes a checkpoint's files (Parquet
    /// footers, part files, at-least-once Kafka sends), the writer commits it (one Postgres
    /// transaction) and finishes it (the Kafka transaction). Checkpoint n+1 prepares while n
    /// commits; both queues take checkpoints in order, so commits stay in order.
    private let preparer = DispatchQueue(label: "wakala.checkpoint-preparer")
    private let writer = DispatchQueue(label: "wakala.checkpoint-writer")
    /// At most two checkpoints in flight (one preparing, one committing): memory stays bounded.
    private static let slots = 2
    private let idle = DispatchSemaphore(value: Checkpointer.slots)
    /// Guards `failure` and `pending` (the checkpoints handed over and not yet written).
    private let flightLock = NSLock()
    nonisolated(unsafe) private var failure: Error?
    nonisolated(unsafe) private var pending = 0

    /// Takes a checkpoint of the runner (its outputs since the last one, its state, `offset` —
    /// the last source offset processed) and prepares, writes and commits it on other threads
    /// while the input goes on. At most two are in flight (the next call waits while two are),
    /// and commits stay in order. A failure that retrying cannot mend is thrown by the next call.
    public func checkpoint(_ runner: PipelineRunner, offset: Int64, positions: [String: Int64] = [:]) throws {
        try absorb(runner)
        idle.wait()
        if let e = takeFailure() { idle.signal(); throw e }
        let files: ParquetTables.Appender?
        do { files = try parquetSink?.detach() } catch { idle.signal(); throw error }
        checkpointID += 1
        let cut = CheckpointCut(id: checkpointID, readModels: runner.drainReadModels(), outputs: runner.drainOutputs(),
                                parquet: files, dead: runner.drainDeadLetters())
        let job = Job(id: checkpointID, offset: offset, positions: positions, watermark: runner.tracker.current, cut: cut,
                      state: try runner.snapshot(), entries: try runner.changedEntries())
        lastEntries = job.entries.reduce(0) { $0 + $1.entries.count }
        lastStateBytes = job.state.count + job.entries.reduce(0) { $0 + $1.entries.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) } }
        flightLock.lock(); pending += 1; flightLock.unlock()
        preparer.async { [self] in
            // Nothing after a failed checkpoint is prepared or committed (its commit would be
            // refused anyway: the task's row is not at the checkpoint before it).
            let prepared = hasFailed ? nil : record { try prepare(job) }
            writer.async { [self] in
                if let prepared, !hasFailed { record { try commit(job, prepared) } }
                // The cut's memory was allocated on other threads and freed here: hand the free
                // pages back, or RSS creeps with history though the live state does not.
                FreePages.handBack()
                flightLock.lock(); pending -= 1; flightLock.unlock()
                idle.signal()
            }
        }
    }

    /// Runs `body`; a failure is kept for the caller's next call.
    private func record<T>(_ body: () throws -> T) -> T? {
        do { return try body() } catch {
            flightLock.lock(); if failure == nil { failure = error }; flightLock.unlock()
            return nil
        }
    }

    private var hasFailed: Bool {
        flightLock.lock()
        defer { flightLock.unlock() }
        return failure != nil
    }

    /// Streams what the runner's last batches gave the sinks that write as they go (the Parquet
    /// rows of the next checkpoint), so a checkpoint holds no more than a row group per open file
    /// in memory, whatever its interval. Drivers call it after each batch, on the worker's thread.
    public func absorb(_ runner: PipelineRunner) throws {
        let tapped = runner.drainTapped()
        guard !tapped.events.isEmpty else { return }
        try parquetSink?.absorb(tapped, checkpoint: checkpointID + 1)
    }

    /// Whether a checkpoint is being prepared or written now: the Kafka driver pauses the task's
    /// partitions meanwhile (and takes its next checkpoint only once none is).
    public var inFlight: Bool {
        flightLock.lock()
        defer { flightLock.unlock() }
        return pending > 0
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

    /// Waits for the checkpoints in flight; throws if one failed.
    public func finish() throws {
        for _ in 0..<Self.slots { idle.wait() }
        defer { for _ in 0..<Self.slots { idle.signal() } }
        if let e = takeFailure() { throw e }
    }

    private func takeFailure() -> Error? {
        flightLock.lock()
        defer { flightLock.unlock() }
        defer { failure = nil }
        return failure
    }

    /// What a checkpoint's sinks prepared: the files its manifest names, the time each sink took.
    struct Prepared: @unchecked Sendable {
        var files: [ParquetTables.File] = []
        /// Part files of closed days merged (into files the manifest gets instead of theirs).
        var merges: [ParquetCompaction.Merge] = []
        var spent: [ObjectIdentifier: UInt64] = [:]
    }

    /// Prepares one checkpoint (on the preparer queue): the sinks side by side (Parquet files
    /// finished, part files written or records sent: independent work).
    private func prepare(_ job: Job) throws -> Prepared {
        var p = Prepared()
        let prepared = try sideBySide(sinks.count) { i -> ([ParquetTables.File], UInt64) in
            let t0 = DispatchTime.now().uptimeNanoseconds
            let f = try sinks[i].prepare(job.cut)
            return (f, DispatchTime.now().uptimeNanoseconds - t0)
        }
        for (sink, (f, ns)) in zip(sinks, prepared) {
            p.files += f
            p.spent[ObjectIdentifier(sink), default: 0] += ns
        }
        if let compaction { p.merges = compaction.prepare(watermark: job.watermark, checkpoint: job.id, fresh: p.files) }
        return p
    }

    /// Commits one prepared checkpoint (on the writer queue): ONE Postgres transaction holds every
    /// sink's part, the manifest of the new files, the positions and the state; then each sink
    /// finishes.
    private func commit(_ job: Job, _ prepared: Prepared) throws {
        let id = job.id, cut = job.cut
        let files = prepared.files
        var spent = prepared.spent
        func timed<T>(_ sink: any CheckpointSink, _ body: () throws -> T) rethrows -> T {
            let t0 = DispatchTime.now().uptimeNanoseconds
            defer { spent[ObjectIdentifier(sink), default: 0] += DispatchTime.now().uptimeNanoseconds - t0 }
            return try body()
        }
        defer { Self.metrics(cut, files: files, sinks: sinks, spent: spent) }
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
                for sink in sinks { try timed(sink) { try sink.commit(cut, db) } }
                if !db.prepared.contains("wakala_manifest") {
                    try db.prepare("wakala_manifest", """
                        INSERT INTO wakala.file_manifest (pipeline, path, checkpoint_id, kind, rows, bytes) VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT (pipeline, path) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id, kind = EXCLUDED.kind,
                          rows = EXCLUDED.rows, bytes = EXCLUDED.bytes
                        """)
                    // Fenced (again, as a guard): the row moves only from the previous checkpoint.
                    try db.prepare("wakala_checkpoint", """
                        INSERT INTO wakala.checkpoints (pipeline, partition, checkpoint_id, source_offset, watermark, state, positions, written_at)
                        VALUES ($1, $2, $3, $4, $5, $6::bytea, $7::jsonb, now())
                        ON CONFLICT (pipeline, partition) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id,
                          source_offset = EXCLUDED.source_offset, watermark = EXCLUDED.watermark, state = EXCLUDED.state,
                          positions = EXCLUDED.positions, written_at = now()
                        WHERE wakala.checkpoints.checkpoint_id = $8
                        """)
                }
                try Self.writeEntries(job.entries, pipeline: settings.pipeline, partition: settings.partition, db)
                let replaced = Set(prepared.merges.flatMap { $0.replaced.map(\.path) })
                for f in files + prepared.merges.map(\.merged) where !replaced.contains(f.path) {
                    try db.execute(prepared: "wakala_manifest", [settings.pipeline, f.path, String(id), f.table, String(f.rows), String(f.bytes)])
                }
                for path in replaced.sorted() {
                    try db.query("DELETE FROM wakala.file_manifest WHERE pipeline = $1 AND path = $2", [settings.pipeline, path])
                }
                // The state goes as binary (a few MB would be twice that as hex, encoded and decoded).
                let n = try db.execute(prepared: "wakala_checkpoint", [settings.pipeline, String(settings.partition), String(id), String(job.offset),
                                                                       String(job.watermark), nil, Self.positionsJSON(job.positions),
                                                                       String(previous)], binary: (5, job.state))
                if n != 1 { throw Fenced(task: settings.partition, expected: previous) }
            }
        }
        committedLock.lock()
        committedState = (id, job.positions)
        committedLock.unlock()
        compaction?.committed(files, merges: prepared.merges)
        if compaction != nil {
            // Created at the first checkpoint even with nothing merged, so the series exist.
            Counter(label: "wakala_parquet_files_merged_total").increment(by: prepared.merges.reduce(0) { $0 + $1.replaced.count })
            Counter(label: "wakala_parquet_merged_bytes_total").increment(by: Int(prepared.merges.reduce(0) { $0 + $1.merged.bytes }))
        }
        for sink in sinks { try timed(sink) { try sink.finish(cut) { what, body in try withDatabase(what, body) } } }
    }

    /// Entries at least this large are written on their own (Postgres moves values over ~2 KB
    /// out of line into TOAST anyway).
    static let largeEntry = 2048

    /// The changed keyed entries, inside the checkpoint's transaction: COPY into a staging table,
    /// then removed keys deleted and the rest upserted — work proportional to what changed. A
    /// large value (a segment of dedupe's keys or of held events) is upserted on its own as a
    /// binary parameter instead: staged, it was hex text parsed into a temporary table and its
    /// TOAST, then copied again.
    static func writeEntries(_ changes: [(operator: String, entries: [StateEntry])], pipeline: String, partition: Int, _ db: PGConnection) throws {
        guard changes.contains(where: { !$0.entries.isEmpty }) else { return }
        var text: [UInt8] = []
        let digits = Array("0123456789abcdef".utf8)
        for (op, list) in changes {
            for e in list {
                if let v = e.value, v.count >= largeEntry {
                    try db.execute("""
                        INSERT INTO wakala.state_entries (pipeline, partition, operator, key, value) VALUES ($1, $2::int, $3, $4, $5::bytea)
                        ON CONFLICT (pipeline, partition, operator, key) DO UPDATE SET value = EXCLUDED.value
                        """, [pipeline, String(partition), op, e.key, nil], binary: (4, v))
                    continue
                }
                PGConnection.appendCopyEscaped(op, to: &text)
                text.append(0x09)
                PGConnection.appendCopyEscaped(e.key, to: &text)
                text.append(0x09)
                if let v = e.value {
                    text.append(contentsOf: [0x5C, 0x5C, 0x78]) // \\x: bytea hex input, its backslash escaped for COPY
                    for b in v { text.append(digits[Int(b >> 4)]); text.append(digits[Int(b & 15)]) }
                } else {
                    text.append(contentsOf: [0x5C, 0x4E]) // \N
                }
                text.append(0x0A)
            }
        }
        guard !text.isEmpty else { return }
        try db.execute("CREATE TEMP TABLE stage_state_entries (operator text, key text, value bytea) ON COMMIT DROP")
        try db.copy(into: "stage_state_entries", columns: ["operator", "key", "value"], text: text)
        // Statistics for the planner: without them it nests loops over the staging table (seconds
        // for a few thousand keys); with them, an index lookup per key.
        try db.execute("ANALYZE stage_state_entries")
        _ = try db.query("""
            DELETE FROM wakala.state_entries e USING stage_state_entries s
            WHERE e.pipeline = $1 AND e.partition = $2 AND e.operator = s.operator AND e.key = s.key AND s.value IS NULL
            """, [pipeline, String(partition)])
        _ = try db.query("""
            INSERT INTO wakala.state_entries (pipeline, partition, operator, key, value)
            SELECT $1, $2::int, operator, key, value FROM stage_state_entries WHERE value IS NOT NULL
            ON CONFLICT (pipeline, partition, operator, key) DO UPDATE SET value = EXCLUDED.value
            """, [pipeline, String(partition)])
    }

    /// Per checkpoint: each sink's time (prepare + commit + finish) and batch size, derived events
    /// out per type (swift-metrics; a no-op without a backend).
    static func metrics(_ cut: CheckpointCut, files: [ParquetTables.File], sinks: [any CheckpointSink], spent: [ObjectIdentifier: UInt64]) {
        for sink in sinks {
            let name = String(describing: type(of: sink))
            Timer(label: "wakala_sink_seconds", dimensions: [("sink", name)]).recordNanoseconds(Int64(spent[ObjectIdentifier(sink)] ?? 0))
        }
        Recorder(label: "wakala_sink_batch_rows", dimensions: [("sink", "read_models")]).record(cut.readModels.count)
        Recorder(label: "wakala_sink_batch_rows", dimensions: [("sink", "parquet")]).record(files.reduce(0) { $0 + Int($1.rows) })
        Recorder(label: "wakala_sink_batch_rows", dimensions: [("sink", "dead_letters")]).record(cut.dead.count)
        var derived: [String: Int] = [:]
        for o in cut.outputs { for case .event(let d) in o.results { derived[d.type, default: 0] += 1 } }
        for (t, n) in derived { Counter(label: "wakala_derived_events_total", dimensions: [("type", t)]).increment(by: n) }
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

    /// A SQL string literal (COPY takes no parameters): quotes doubled.
    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

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

/// Freed pages handed back to the system after a checkpoint (jemalloc: every arena purged, on
/// top of its one-second decay), at most once per `interval` in the process: 16 tasks ending a
/// bounded run together would purge 16 times in a row.
enum FreePages {
    static let interval: UInt64 = 1_000_000_000 // ns
    nonisolated(unsafe) private static var last: UInt64 = 0
    private static let lock = NSLock()

    static func handBack() {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        let due = last == 0 || now &- last >= interval
        if due { last = now }
        lock.unlock()
        if due { _ = wakala_trim_malloc() }
    }
}

import Domain
import Foundation
import Ingest
import Operators
import Postgres
import Lifecycle

/// Exactly-once Kafka output of one task (CONTRACT §3.5): derived events and dead letters reach
/// `read_committed` consumers once each, whatever is killed and when.
///
/// Postgres decides; Kafka follows. A checkpoint's records are written to the outbox
/// (`wakala.kafka_outbox_batches`: one zstd-compressed row per checkpoint) in the checkpoint's own
/// Postgres transaction; after it commits they are published in one Kafka
/// transaction of the task's transactional producer (`transactional.id` = `<pipeline>-task-<n>`)
/// together with a marker record (the checkpoint id) on the task's partition of the markers
/// topic; then the outbox rows go. A crash between the two commits leaves the outbox rows: the
/// next owner of the task fences the old producer (which aborts a transaction it left open),
/// reads the last committed marker, republishes the checkpoints after it, and carries on.
/// (Kafka's own offsets-in-transaction — `send_offsets_to_transaction` — would serve as the
/// marker, but librdkafka 2.0.2's mock cluster does not store them.)
final class KafkaTransactions: CheckpointSink {
    struct Record {
        var topic: String
        var key: [UInt8]
        var value: [UInt8]
        var headers: [(String, [UInt8])]
        /// Set when staged: the partition (murmur2 of the key, as Java clients choose) and that
        /// partition's end offset before this checkpoint's publishing could have written to it.
        var partition = -1
        var startOffset: Int64 = 0
    }

    private(set) var producer: KafkaProducer
    let brokers: String
    let pipeline: String
    let task: Int
    let markerTopic: String
    let derivedTopics: [String: String]
    let deadLetterTopic: String
    /// Every topic a checkpoint's transaction writes (its producer learns them when made).
    let topics: Set<String>
    /// The records of the checkpoint being written (staged in `commit`, published in `finish`).
    private var staged: (id: Int64, records: [Record]) = (0, [])
    /// Markers and failed publishes are retried with this backoff (seconds), doubling.
    var backoff = 0.2, maxBackoff = 10.0
    /// How long an abort may take before the producer is taken for stuck and replaced.
    var abortTimeoutMs = 20_000
    /// Aborts a failed transaction within the timeout (ms); throwing means it did not finish and
    /// the producer is replaced. Injected by tests: the stuck producer was seen once on the mock
    /// cluster and cannot be made on demand (a 0 ms timeout alone sometimes lets the abort finish).
    var abort: (KafkaProducer, Int) throws -> Void = { try $0.abortTransaction(timeoutMs: $1) }
    /// Failed transactions in a row (their aborts finished) after which the producer is replaced.
    var replaceAfterFailures = 4
    let log: (String) -> Void
    let logError: (String) -> Void

    init(brokers: String, pipeline: String, task: Int, markerTopic: String, derivedTopics: [String: String], deadLetterTopic: String,
         log: @escaping (String) -> Void, logError: ((String) -> Void)? = nil) throws {
        self.logError = logError ?? log
        self.derivedTopics = derivedTopics
        self.deadLetterTopic = deadLetterTopic
        self.brokers = brokers
        self.pipeline = pipeline
        self.task = task
        self.markerTopic = markerTopic
        self.log = log
        topics = Set([markerTopic, deadLetterTopic] + derivedTopics.values)
        producer = try Self.makeProducer(brokers: brokers, pipeline: pipeline, task: task, topics: topics)
    }

    /// The task's transactional producer, registered — which fences any older producer with the
    /// id and aborts the transaction it left open — and knowing every topic a checkpoint's
    /// transaction writes before the first one: the marker comes last, just before the commit,
    /// which would otherwise wait for librdkafka's next topic scan (the final checkpoints of a
    /// bounded run ended in one-second waves).
    static func makeProducer(brokers: String, pipeline: String, task: Int, topics: Set<String>) throws -> KafkaProducer {
        let p = try KafkaProducer(brokers: brokers, settings: [("transactional.id", "\(pipeline)-task-\(task)"),
                                                              ("transaction.timeout.ms", "60000"),
                                                              ("message.max.bytes", String(KafkaProducer.maxMessageBytes))])
        try p.initTransactions()
        for topic in topics { try p.learn(topic: topic) }
        return p
    }

    // MARK: as a checkpoint sink

    /// Inside the checkpoint's Postgres transaction: its records into the outbox.
    func commit(_ cut: CheckpointCut, _ db: PGConnection) throws {
        var records = KafkaRecords.of(cut, derivedTopics: derivedTopics, deadLetterTopic: deadLetterTopic)
        try place(&records)
        staged = (cut.id, records)
        try stage(records, checkpoint: cut.id, db)
    }

    /// Postgres has decided: the records follow in one Kafka transaction, then leave the outbox.
    func finish(_ cut: CheckpointCut, database: (String, (PGConnection) throws -> Void) throws -> Void) throws {
        if staged.id != cut.id {
            // An earlier attempt committed this checkpoint and only its answer was lost: its
            // records are in the outbox.
            var rows: [Record] = []
            try database("reading the Kafka outbox") { db in rows = try pending(after: cut.id - 1, db).first { $0.checkpoint == cut.id }?.records ?? [] }
            staged = (cut.id, rows)
        }
        guard !staged.records.isEmpty else { return }
        try publish(staged.records, checkpoint: cut.id)
        try database("clearing the Kafka outbox") { db in try clear(upTo: cut.id, db) }
        staged = (0, [])
    }

    // MARK: the outbox (inside the checkpoint's Postgres transaction)

    private var partitionCounts: [String: Int] = [:]

    /// Gives each record its partition and the partition's current end offset (where anything
    /// this checkpoint's publishing writes can start), the end offsets asked for all at once.
    func place(_ records: inout [Record]) throws {
        var parts = Set<TopicPartition>()
        for i in records.indices {
            let topic = records[i].topic
            if partitionCounts[topic] == nil { partitionCounts[topic] = try producer.partitionCount(topic) }
            records[i].partition = KafkaPartitioner.partition(String(decoding: records[i].key, as: UTF8.self), count: partitionCounts[topic]!)
            parts.insert(TopicPartition(topic, records[i].partition))
        }
        let ends = try producer.endOffsets(parts)
        for i in records.indices {
            guard let end = ends[TopicPartition(records[i].topic, records[i].partition)] else {
                throw KafkaError("no end offset for \(records[i].topic)[\(records[i].partition)]")
            }
            records[i].startOffset = end
        }
    }

    /// Writes a checkpoint's records to the outbox: one row, the records serialized and
    /// compressed (zstd level 1: fast, and the records are repetitive JSON).
    func stage(_ records: [Record], checkpoint: Int64, _ db: PGConnection) throws {
        guard !records.isEmpty else { return }
        var w = SnapshotWriter()
        w.write(records.count)
        for r in records {
            w.write(r.topic); w.write(r.partition); w.write(r.startOffset)
            w.write(r.key.count); w.writeBytes(r.key)
            w.write(r.value.count); w.writeBytes(r.value)
            w.write(r.headers.count)
            for (k, v) in r.headers { w.write(k); w.write(v.count); w.writeBytes(v) }
        }
        let body = try Zstd.Compressor(level: 1).compress(w.bytes)
        try db.execute("INSERT INTO wakala.kafka_outbox_batches (pipeline, task, checkpoint_id, records, body) VALUES ($1, $2, $3, $4, $5::bytea)",
                       [pipeline, String(task), String(checkpoint), String(records.count), nil], binary: (4, body))
    }

    /// The outbox's checkpoints after `after`, in order, with their records.
    func pending(after: Int64, _ db: PGConnection) throws -> [(checkpoint: Int64, records: [Record])] {
        var out: [Int64: [Record]] = [:]
        for r in try db.query("""
            SELECT checkpoint_id, encode(body, 'hex') FROM wakala.kafka_outbox_batches
            WHERE pipeline = $1 AND task = $2 AND checkpoint_id > $3 ORDER BY checkpoint_id
            """, [pipeline, String(task), String(after)]).rows {
            var rd = SnapshotReader(try Zstd.decompress(try Checkpointer.unhex(r[1] ?? "")))
            var records: [Record] = []
            for _ in 0..<(try rd.readInt()) {
                let topic = try rd.readString(), partition = try rd.readInt(), start = try rd.readInt64()
                let key = try rd.readBytes(count: try rd.readInt()), value = try rd.readBytes(count: try rd.readInt())
                var headers: [(String, [UInt8])] = []
                for _ in 0..<(try rd.readInt()) { headers.append((try rd.readString(), try rd.readBytes(count: try rd.readInt()))) }
                records.append(Record(topic: topic, key: key, value: value, headers: headers, partition: partition, startOffset: start))
            }
            out[Int64(r[0]!)!] = records
        }
        // Rows of the per-record table an earlier version wrote (only ever before any batch).
        for (id, records) in try legacyPending(after: after, db) { out[id, default: []] = records + out[id, default: []] }
        return out.keys.sorted().map { ($0, out[$0]!) }
    }

    /// The per-record outbox rows of checkpoints after `after` (migration 4's table).
    private func legacyPending(after: Int64, _ db: PGConnection) throws -> [(Int64, [Record])] {
        let rows = try db.query("""
            SELECT checkpoint_id, topic, encode(key, 'hex'), encode(value, 'hex'), encode(headers, 'hex'), partition, start_offset FROM wakala.kafka_outbox
            WHERE pipeline = $1 AND task = $2 AND checkpoint_id > $3 ORDER BY checkpoint_id, seq
            """, [pipeline, String(task), String(after)]).rows
        var out: [(Int64, [Record])] = []
        for r in rows {
            let id = Int64(r[0]!)!
            var hr = SnapshotReader(try Checkpointer.unhex(r[4] ?? ""))
            var headers: [(String, [UInt8])] = []
            for _ in 0..<(try hr.readInt()) { headers.append((try hr.readString(), try hr.readBytes(count: try hr.readInt()))) }
            let rec = Record(topic: r[1]!, key: try Checkpointer.unhex(r[2] ?? ""), value: try Checkpointer.unhex(r[3] ?? ""), headers: headers,
                             partition: Int(r[5]!)!, startOffset: Int64(r[6]!)!)
            if out.last?.0 == id { out[out.count - 1].1.append(rec) } else { out.append((id, [rec])) }
        }
        return out
    }

    /// Removes the outbox rows of checkpoints up to `id` (published); `legacy`: the old
    /// per-record table's too (on recovery).
    func clear(upTo id: Int64, legacy: Bool = false, _ db: PGConnection) throws {
        try db.query("DELETE FROM wakala.kafka_outbox_batches WHERE pipeline = $1 AND task = $2 AND checkpoint_id <= $3",
                     [pipeline, String(task), String(id)])
        if legacy {
            try db.query("DELETE FROM wakala.kafka_outbox WHERE pipeline = $1 AND task = $2 AND checkpoint_id <= $3",
                         [pipeline, String(task), String(id)])
        }
    }

    // MARK: publishing

    /// Publishes one checkpoint's records and its marker in one Kafka transaction; a transaction
    /// that fails is aborted and tried again with backoff (the brokers may be down); a fenced
    /// producer (another process owns the task now) is thrown. A producer whose abort does not
    /// finish, or whose transactions keep failing, is replaced.
    func publish(_ list: [Record], checkpoint: Int64) throws {
        var delay = backoff
        var records = list
        var todo = records
        var failures = 0
        while true {
            do {
                try producer.beginTransaction()
                for (i, r) in todo.enumerated() {
                    do {
                        try r.value.withUnsafeBytes { v in
                            try producer.produce(topic: r.topic, partition: r.partition, key: r.key, value: v, headers: r.headers)
                        }
                    } catch let e as KafkaError where e.isSizeRefusal && r.topic == deadLetterTopic && r.value.count > KafkaRecords.cutValueBytes {
                        // Refused by our producer for its size: cut, so it can be written at all.
                        let c = cutDeadLetter(r, checkpoint: checkpoint, e)
                        todo[i] = c
                        if let k = records.firstIndex(where: { $0.value == r.value && $0.partition == r.partition }) { records[k] = c }
                        try c.value.withUnsafeBytes { v in
                            try producer.produce(topic: c.topic, partition: c.partition, key: c.key, value: v, headers: c.headers)
                        }
                    }
                }
                // Every record is on its broker before the marker is sent: a marker in the log
                // means the whole checkpoint is (on a real cluster both vanish if the transaction
                // is fenced; librdkafka 2.0.2's mock cluster leaves a fenced transaction's records
                // readable, see ``recover(committed:_:)``).
                try producer.flush()
                let marker = Array(String(checkpoint).utf8)
                try marker.withUnsafeBytes { v in try producer.produce(topic: markerTopic, partition: task, key: [], value: v) }
                try producer.commitTransaction()
                return
            } catch let e as KafkaProducer.TransactionError where e.fatal {
                throw e
            } catch {
                // A broker refused a record for its size: sent again as it is, it would be refused
                // for ever. Oversized dead letters are cut (the only records that can be: derived
                // events are small); anything else that the broker refuses for size is thrown.
                // An answer retrying cannot change (authorization, records the broker refuses):
                // thrown, so the run stops naming it instead of retrying for ever.
                if (error as? KafkaError)?.isPermanent == true || KafkaError.isPermanent(code: (error as? KafkaProducer.TransactionError)?.code) {
                    try? producer.abortTransaction(timeoutMs: abortTimeoutMs)
                    throw KafkaError("publishing checkpoint \(checkpoint) to Kafka: \(error) — retrying cannot mend this (check the client's ACLs and the topics)")
                }
                let sizeRefused = (error as? KafkaError)?.isSizeRefusal == true
                if sizeRefused {
                    let oversized = records.indices.filter { records[$0].topic == deadLetterTopic && records[$0].value.count > KafkaRecords.cutValueBytes }
                    guard !oversized.isEmpty else { throw error }
                    for i in oversized { records[i] = cutDeadLetter(records[i], checkpoint: checkpoint, error) }
                    todo = todo.map { $0.topic == deadLetterTopic && $0.value.count > KafkaRecords.cutValueBytes ? KafkaRecords.cut($0) : $0 }
                }
                log("publishing checkpoint \(checkpoint) to Kafka failed (\(error)); aborting the transaction, retrying in \(String(format: "%.1f", delay)) s")
                var stuck = false
                do {
                    try abort(producer, abortTimeoutMs)
                } catch let e as KafkaProducer.TransactionError where e.fatal { throw e } catch {
                    stuck = true
                    log("aborting the transaction of checkpoint \(checkpoint) failed (\(error))")
                }
                failures += 1
                // A producer told by the coordinator that its id is unknown aborts (the epoch is
                // bumped) but may never get a record out again: on the mock cluster every later
                // transaction failed with "Local: Purged in queue", for good. A new one gets out.
                let replace = stuck || failures >= replaceAfterFailures
                // The checkpoint goes again less what `read_committed` consumers can already read
                // (as after a crash: ``recover(committed:_:)``); all of it when the marker is not
                // readable on a real cluster, where an aborted transaction's records are not. But
                // librdkafka 2.0.2's mock cluster leaves an aborted transaction's records (and
                // marker) readable: sent again whole, every record was read twice (CI, once).
                do {
                    if replace {
                        // A producer that cannot abort cannot begin again either (librdkafka:
                        // "conflicting abort_transaction API call is already in progress", for good —
                        // seen once on the mock cluster, whose coordinator no longer knew the
                        // producer's id). A new producer with the same transactional id fences it
                        // (the coordinator aborts what it left open).
                        log(stuck ? "task \(task): a new transactional producer in place of one that cannot abort"
                                  : "task \(task): a new transactional producer in place of one whose last \(failures) transactions failed")
                        failures = 0
                        producer = try Self.makeProducer(brokers: brokers, pipeline: pipeline, task: task, topics: topics)
                    }
                    if try lastPublished() >= checkpoint { return }
                    todo = try unreadable(records)
                } catch let e as KafkaProducer.TransactionError where e.fatal {
                    throw e
                } catch {
                    log(replace ? "task \(task): replacing the transactional producer failed (\(error)); retrying"
                              : "task \(task): reading what checkpoint \(checkpoint) left readable failed (\(error)); retrying")
                }
                try Shutdown.sleep(delay, while: "publishing checkpoint \(checkpoint) to Kafka (\(error))")
                delay = min(maxBackoff, delay * 2)
            }
        }
    }

    /// A dead letter refused for its size, cut (``KafkaRecords/cut(_:)``) and said so at error level.
    private func cutDeadLetter(_ r: Record, checkpoint: Int64, _ why: Error) -> Record {
        let c = KafkaRecords.cut(r)
        let source = r.headers.first { $0.0 == "source" }.map { String(decoding: $0.1, as: UTF8.self) } ?? "?"
        let offset = r.headers.first { $0.0 == "offset" }.map { String(decoding: $0.1, as: UTF8.self) } ?? "?"
        logError("a dead letter of \(r.value.count) bytes (\(source) offset \(offset)) was refused by Kafka (\(why)); writing its first \(c.value.count) bytes with truncated=true, original_bytes and sha256 headers (checkpoint \(checkpoint))")
        return c
    }

    /// The last checkpoint whose Kafka transaction committed (its marker, read `read_committed`);
    /// 0 when none. Call after ``init`` (which aborted any transaction left open).
    func lastPublished() throws -> Int64 {
        let reader = try KafkaConsumer(brokers: brokers, group: "\(pipeline)-markers-reader",
                                       settings: [("isolation.level", "read_committed"), ("enable.partition.eof", "true")])
        defer { reader.close() }
        let tp = TopicPartition(markerTopic, task)
        let (low, high) = try reader.watermarks(tp)
        guard high > low else { return 0 }
        // Each transaction adds a marker and a commit record: the last committed marker is
        // among the last few offsets.
        try reader.assign([tp: max(low, high - 16)])
        var last: Int64 = 0
        var ended = false
        reader.onEnd = { _ in ended = true }
        let deadline = Date().addingTimeInterval(60)
        while !ended {
            guard Date() < deadline else { throw KafkaError("reading the markers of task \(task) timed out") }
            reader.poll(max: 64, timeoutMs: 200) { r in
                if let id = Int64(String(decoding: r.value, as: UTF8.self)) { last = max(last, id) }
            }
        }
        return last
    }

    /// After the task's Postgres state was restored at `committed`: republishes the checkpoints
    /// whose Kafka transaction did not commit, then clears the outbox.
    ///
    /// Only the records a `read_committed` consumer cannot already read are sent again: on a real
    /// cluster a fenced transaction's records are aborted, so that is all of them; librdkafka
    /// 2.0.2's mock cluster never aborts a fenced transaction and leaves what it wrote readable,
    /// which would otherwise be read twice.
    func recover(committed: Int64, _ db: PGConnection) throws {
        let published = try lastPublished()
        let todo = try pending(after: published, db).filter { $0.checkpoint <= committed }
        for c in todo {
            let missing = try unreadable(c.records)
            log("republishing checkpoint \(c.checkpoint) to Kafka: its transaction had not committed (\(missing.count) of \(c.records.count) records are not readable)")
            try publish(missing, checkpoint: c.checkpoint)
        }
        try clear(upTo: committed, legacy: true, db)
    }

    /// Those of `records` that a `read_committed` consumer cannot read yet.
    func unreadable(_ records: [Record]) throws -> [Record] {
        let visible = try readable(records)
        return records.filter { !(visible[TopicPartition($0.topic, $0.partition)]?.contains($0.value) ?? false) }
    }

    /// The values a `read_committed` consumer reads in each of these records' partitions from
    /// their recorded start offsets to the end.
    func readable(_ records: [Record]) throws -> [TopicPartition: Set<[UInt8]>] {
        var starts: [TopicPartition: Int64] = [:]
        for r in records {
            let tp = TopicPartition(r.topic, r.partition)
            starts[tp] = min(starts[tp] ?? .max, r.startOffset)
        }
        var ends: [TopicPartition: Int64] = [:]
        for tp in starts.keys { ends[tp] = try producer.watermarks(tp.topic, tp.partition).high }
        let todo = starts.filter { ends[$0.key]! > $0.value }
        guard !todo.isEmpty else { return [:] }
        let reader = try KafkaConsumer(brokers: brokers, group: "\(pipeline)-outbox-reader",
                                       settings: [("isolation.level", "read_committed"), ("enable.partition.eof", "true")])
        defer { reader.close() }
        try reader.assign(todo)
        var seen: [TopicPartition: Set<[UInt8]>] = [:]
        var ended = Set<TopicPartition>()
        reader.onEnd = { ended.insert($0) }
        let deadline = Date().addingTimeInterval(60)
        while ended.count < todo.count {
            guard Date() < deadline else { throw KafkaError("reading back \(todo.count) partitions to republish timed out") }
            reader.poll(max: 1000, timeoutMs: 200) { r in seen[TopicPartition(r.topic, r.partition), default: []].insert(Array(r.value)) }
        }
        return seen
    }
}

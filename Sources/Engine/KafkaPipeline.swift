import Domain
import Foundation
import Ingest
import Operators
import Sinks
import Postgres
import Lifecycle

/// `wakala run`: a pipeline fed from Kafka (CONTRACT §3.1, §4), the Kafka Streams model — the
/// consumer group spreads the partitions over the processes; partition p of every input topic is
/// task p (``PipelineTask``), whose state, watermark and checkpoint move between processes only
/// through Postgres.
///
/// The loop, on one thread: poll a batch → each task runs its records through the operators →
/// events bound for another task's key go out on the internal topics, with this task's watermark
/// → at each checkpoint interval every task's outputs, state and positions commit in one Postgres
/// transaction (written while input goes on; a task whose previous checkpoint is still being
/// written has its partitions paused) → afterwards the same offsets are committed to the group.
/// Rebalances run inside the poll: revoked tasks checkpoint and go, assigned tasks are restored
/// and their partitions start where their checkpoint says.
public final class KafkaPipeline {
    public struct Settings {
        public var brokers: String
        public var group: String
        public var postgresURL: String
        /// Data folder: Parquet (unless the parquet sink names a path), derived/ and dlq/.
        public var dataDir: String
        /// Stop at the end offsets the input partitions had at start, end input as a file replay
        /// does, take a final checkpoint and return.
        public var untilEnd = false
        /// Records per poll.
        public var batch = 4096
        /// Also checkpoint a task once it has taken N records since its last checkpoint.
        public var checkpointRecords: Int?
        /// Checkpoint the task holding the most records once the process's tasks together hold
        /// more than N since their checkpoints (memory bounded whatever the partition count).
        public var checkpointProcessRecords: Int?
        /// Seconds between checkpoints.
        public var checkpointInterval: Double = 10
        /// Derived events and dead letters to the pipeline's Kafka topics (else to part files).
        public var outputsToKafka = true
        /// For a cluster that does not outlive the process (the demo's embedded broker): before a
        /// task's checkpoint, its inputs are paused until it has consumed everything on its
        /// internal-topic partitions, so no routed event exists only in Kafka; a restart against a
        /// new, empty cluster then starts the internal topics afresh and loses nothing. Sound with
        /// one task (a checkpoint is then one transaction for the whole pipeline).
        public var drainInternalTopicsAtCheckpoint = false
        /// Seconds Kafka and Postgres may take to answer at start (retried with backoff) before
        /// the run gives up (exit 1, naming them); later outages pause the input and are retried.
        public var connectTimeout = 60.0
        /// Where the Postgres URL came from, named in configuration errors.
        public var postgresSetting = "--postgres"
        public var log: (String) -> Void = { _ in }
        /// Outages being retried (warning level), and what was lost or changed (error level).
        public var warn: ((String) -> Void)?
        public var error: ((String) -> Void)?

        public init(brokers: String, group: String, postgresURL: String, dataDir: String) {
            self.brokers = brokers; self.group = group; self.postgresURL = postgresURL
            self.dataDir = dataDir
        }
    }

    /// A pipeline file that cannot run against this cluster (exit 2).
    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Kafka did not answer within the connect timeout at start (exit 1).
    public struct Unreachable: Error, CustomStringConvertible {
        public var description: String
    }

    /// What a run did.
    public struct Summary {
        public var records = 0
        public var accepted = 0
        public var deadLetters = 0
        /// Input records in a partition their key does not map to (``PlacementCheck``).
        public var misrouted = 0
        public var tasksFinished: [Int] = []
        public var checkpoints = 0
        public var stoppedBySignal = false
        /// Where the loop's time went (ns): waiting for and taking records, processing them
        /// (poll included), checkpoints handed to writers (and waits for them); empty polls.
        public var pollNanos: UInt64 = 0, processNanos: UInt64 = 0, checkpointNanos: UInt64 = 0
        public var emptyPolls = 0
        /// The most records the process's tasks held at once between checkpoints (measured after
        /// each poll round, before the checkpoints it made due).
        public var peakHeldRecords = 0
        /// Checkpoints taken because the process's tasks together held too many records.
        public var budgetCheckpoints = 0
    }

    /// The pipeline file; with `partitioner: auto`, the source's partitioner as decided (recorded).
    var config: PipelineConfig
    let settings: Settings
    /// Bounded: from the start (`--until-end`) or once ``endInput()`` asked for it.
    var untilEnd: Bool
    private let endLock = NSLock()
    nonisolated(unsafe) private var endRequested = false

    /// Ends the input where the partitions end now (from any thread): the run then finishes as
    /// `--until-end` does — every held event and window emitted, a final checkpoint — and returns.
    public func endInput() {
        endLock.lock(); endRequested = true; endLock.unlock()
    }

    private func takeEndRequest() -> Bool {
        endLock.lock(); defer { endLock.unlock() }
        let r = endRequested
        endRequested = false
        return r
    }
    let inputs: [String]
    let inputIndex: [String: Int]
    /// Repartition operator → its internal topic, and back.
    let internalTopics: [String: String]
    let operatorOfTopic: [String: String]
    /// Input records read by a task that does not own their key go to their owner through this
    /// topic (`<pipeline>-reroute`, partition = owner), with every task's watermark markers after
    /// them; nil with one partition (every key is task 0's).
    let rerouteTopic: String?
    /// Every internal topic a task reads: the repartitions' and the reroute topic.
    let exchangeTopics: [String]
    /// The exactly-once markers topic (``KafkaTransactions``): partition p holds task p's.
    let markerTopic: String
    /// Where derived events and dead letters go: the kafka sink's `brokers`, else the source's.
    let outputBrokers: String
    /// Each input record's key against its partition (the source's `partitioner`).
    let placement: PlacementCheck
    public let taskCount: Int
    let consumer: KafkaConsumer
    let exchange: KafkaProducer
    /// Live figures for other threads (status lines, metrics).
    public let progress = PipelineProgress()
    var publishedAt: UInt64 = 0

    var tasks: [Int: PipelineTask] = [:]
    /// `--until-end`: the end offset of every input partition, read at start.
    var endOffsets: [TopicPartition: Int64] = [:]
    var failure: Error?
    var closing = false
    var summary = Summary()
    let clockOrigin = DispatchTime.now().uptimeNanoseconds

    /// Monotonic processing time in ms (idleness; never wall time, which may jump).
    func now() -> EpochMillis { EpochMillis((DispatchTime.now().uptimeNanoseconds - clockOrigin) / 1_000_000) + 1 }

    /// Checks the topology against the cluster (co-partitioned inputs, internal topics created
    /// with the same partition count) and joins the group.
    public init(config: PipelineConfig, settings: Settings) throws {
        self.config = config
        self.settings = settings
        untilEnd = settings.untilEnd
        guard let source = config.sources.first(where: { $0.type == "kafka" }) else {
            throw ConfigurationError(description: "\(config.file): the pipeline has no kafka source")
        }
        inputs = source.topics
        inputIndex = Dictionary(uniqueKeysWithValues: inputs.enumerated().map { ($1, $0) })
        // Records forwarded to their key's task may be as large as the source takes.
        exchange = try KafkaProducer(brokers: settings.brokers, settings: [("linger.ms", "2"), ("message.max.bytes", String(KafkaProducer.maxMessageBytes))])
        // Co-partitioning: partition p of every input topic is task p.
        // The first answer from the cluster is waited for (it may be starting) up to the connect
        // timeout; a topic it says does not exist is a configuration error at once.
        var counts: [String: Int] = [:]
        let began = DispatchTime.now().uptimeNanoseconds
        var delay = 0.2
        for t in inputs {
            while counts[t] == nil {
                do { counts[t] = try exchange.partitionCount(t, timeoutMs: 5_000) } catch let e as KafkaError where e.isUnknownTopic {
                    throw ConfigurationError(description: "\(config.file): source topic \(t) at \(settings.brokers): \(e)")
                } catch {
                    let waited = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
                    if waited >= settings.connectTimeout {
                        throw Unreachable(description: "Kafka at \(settings.brokers) did not answer within \(Int(settings.connectTimeout)) s (--connect-timeout): \(error)")
                    }
                    (settings.warn ?? settings.log)("Kafka at \(settings.brokers) did not answer (\(error)); retrying in \(String(format: "%.1f", delay)) s (giving up after \(Int(settings.connectTimeout)) s)")
                    try Shutdown.sleep(delay, while: "waiting for Kafka at \(settings.brokers)")
                    delay = min(5, delay * 2)
                }
            }
        }
        let distinct = Set(counts.values)
        guard distinct.count == 1, let n = distinct.first else {
            let list = counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            throw ConfigurationError(description: "\(config.file): the input topics must have equal partition counts (partition p of each is task p), but have \(list)")
        }
        taskCount = n
        var internalTopics: [String: String] = [:]
        markerTopic = "\(config.name)-eos-markers"
        // Derived events and dead letters go to the kafka sink's brokers (the source's when it
        // names none), and with them the exactly-once markers.
        outputBrokers = SinkPlan(config).kafkaBrokers ?? settings.brokers
        var needed: [(topic: String, what: String)] = settings.outputsToKafka && outputBrokers == settings.brokers ? [(markerTopic, "the exactly-once markers")] : []
        if settings.outputsToKafka && outputBrokers != settings.brokers {
            let out = try KafkaProducer(brokers: outputBrokers)
            var have = try? out.partitionCount(markerTopic)
            if have == nil { try? out.createTopic(markerTopic, partitions: n, timeoutMs: 5_000); have = try? out.partitionCount(markerTopic) }
            guard let have, have >= n else {
                throw ConfigurationError(description: "\(config.file): the kafka sink's brokers \(outputBrokers) need topic \(markerTopic) (the exactly-once markers) with \(n) partitions, " +
                                         (have.map { "but it has \($0)" } ?? "but it does not exist"))
            }
        }
        for op in config.operators where op.type == "repartition" {
            let topic = op.params.first { $0.0 == "topic" }?.1 ?? "\(config.name)-\(op.name)-repartition"
            needed.append((topic, "operator \(op.name)"))
            internalTopics[op.name] = topic
        }
        rerouteTopic = n > 1 ? "\(config.name)-reroute" : nil
        if let rerouteTopic { needed.append((rerouteTopic, "records whose producers placed them in another partition than their key's (forwarded to the task owning the key)")) }
        exchangeTopics = internalTopics.values.sorted() + (rerouteTopic.map { [$0] } ?? [])
        for (topic, what) in needed {
            // Created here when the cluster takes CreateTopics (librdkafka 2.0.2's mock cluster does
            // not: `wakala broker` creates the default pipeline's internal topic itself).
            var createError: Error?
            var have = try? exchange.partitionCount(topic)
            if have == nil {
                do { try exchange.createTopic(topic, partitions: n, timeoutMs: 5_000) } catch { createError = error }
                have = try? exchange.partitionCount(topic)
            }
            guard have == n else {
                throw ConfigurationError(description: "\(config.file): \(what) need(s) internal topic \(topic) with \(n) partitions (as many as the inputs), " +
                                         (have.map { "but it has \($0)" } ?? "but it does not exist") +
                                         (createError.map { "; creating it failed: \($0)" } ?? ""))
            }
        }
        self.internalTopics = internalTopics
        operatorOfTopic = Dictionary(uniqueKeysWithValues: internalTopics.map { ($1, $0) })
        consumer = try KafkaConsumer(brokers: settings.brokers, group: settings.group)
        // One connection for what start-up asks of Postgres (migrations, internal-topic starts, the
        // partitioner), waited for up to the connect timeout.
        let db = try PGConnection.connect(url: settings.postgresURL, setting: settings.postgresSetting, timeout: settings.connectTimeout,
                                          log: settings.warn ?? settings.log)
        try Migrations.run(db)
        internalStarts = try Self.internalStarts(config.name, exchangeTopics, partitions: n, db, consumer)
        if settings.untilEnd {
            for t in inputs {
                for p in 0..<n { endOffsets[TopicPartition(t, p)] = try consumer.watermarks(TopicPartition(t, p)).high }
            }
        }
        // auto: decided from the records once, recorded, and from then on the same everywhere.
        var partitioner = source.params["partitioner"].flatMap(Partitioner.init(rawValue:))
        if partitioner == nil {
            partitioner = try PartitionerInference.resolve(pipeline: config.name, topics: inputs, partitions: n, brokers: settings.brokers,
                                                           db: db, wait: !settings.untilEnd, log: settings.log)
            if let i = config.sources.firstIndex(where: { $0.name == source.name }) {
                self.config.sources[i].params["partitioner"] = partitioner!.rawValue
            }
        }
        placement = PlacementCheck(topics: inputs, partitions: n, expected: partitioner!,
                                   maxRecordBytes: source.params["max_record_bytes"].flatMap(Int.init) ?? EventDecoder.maxRecordBytes,
                                   warn: settings.warn ?? settings.log)
        consumer.onError = { [log = settings.log] in log("kafka: \($0)") }
        consumer.onAssign = { [unowned self] parts in self.assigned(parts) }
        consumer.onRevoke = { [unowned self] parts in self.revoked(parts) }
    }

    /// Where a task without a checkpoint starts reading each internal topic partition.
    let internalStarts: [TopicPartition: Int64]

    /// The offsets the internal topics had when this pipeline first ran against this Postgres
    /// (recorded once): a task that has no checkpoint yet starts there, not at the beginning,
    /// where records of an earlier incarnation of the pipeline (another database, a reset) may
    /// lie — their watermark markers would let the operators run ahead of the events.
    static func internalStarts(_ pipeline: String, _ topics: [String], partitions n: Int, _ db: PGConnection,
                               _ consumer: KafkaConsumer) throws -> [TopicPartition: Int64] {
        guard !topics.isEmpty else { return [:] }
        var out: [TopicPartition: Int64] = [:]
        for t in topics {
            for p in 0..<n {
                let high = try consumer.watermarks(TopicPartition(t, p)).high
                try db.query("INSERT INTO wakala.internal_topic_starts (pipeline, topic, partition, start_offset) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                             [pipeline, t, String(p), String(high)])
            }
            for row in try db.query("SELECT partition, start_offset FROM wakala.internal_topic_starts WHERE pipeline = $1 AND topic = $2", [pipeline, t]).rows {
                if let p = row[0].flatMap(Int.init), let o = row[1].flatMap(Int64.init) { out[TopicPartition(t, p)] = o }
            }
        }
        return out
    }

    /// Total records between the start and end offsets (`--until-end`), for progress.
    public var endTotal: Int64 { endOffsets.values.reduce(0, +) }

    // MARK: tasks

    func makeTask(_ p: Int) throws -> PipelineTask {
        let runner = try PipelineRunner(config: config, partitions: Array(inputs.indices), now: now(), exchangePartitions: taskCount)
        if rerouteTopic != nil { runner.enableReroute(inputs: inputs.count, senders: taskCount) }
        runner.timing = true // operator time per batch, for metrics (two clock reads per stage and batch)
        let plan = SinkPlan(config)
        plan.apply(to: runner)
        var s = plan.checkpointer(pipeline: config.name, postgresURL: settings.postgresURL, dataDir: settings.dataDir, task: p)
        // Exactly once to Kafka: a transactional producer per task (``KafkaTransactions``).
        if settings.outputsToKafka { s.transactions = (outputBrokers, markerTopic) }
        s.connectTimeout = settings.connectTimeout
        s.postgresSetting = settings.postgresSetting
        let warn = settings.warn ?? settings.log, error = settings.error ?? warn
        let checkpointer = Checkpointer(s, log: { [log = settings.log] in log("task \(p): \($0)") },
                                        warn: { warn("task \(p): \($0)") }, error: { error("task \(p): \($0)") })
        _ = try checkpointer.resume(runner)
        runner.restartClock(now: now())
        let task = PipelineTask(id: p, runner: runner, checkpointer: checkpointer, inputs: inputs.count)
        // Unread: librdkafka's high watermark from its last fetch (no request) above the task's
        // next offset, or none known yet. Records of a poll not yet processed count as unread (the
        // task's offsets move only once they are). Asked only about partitions whose idle_timeout
        // ran out, so a busy run asks librdkafka nothing.
        runner.unread = { [weak self, unowned task] i in
            guard let self else { return true }
            let topic = self.inputs[i]
            let high = self.consumer.cachedHighWatermark(TopicPartition(topic, task.id))
            return high < 0 || high > (task.next[topic] ?? 0)
        }
        if untilEnd { noteEnds(task) }
        return task
    }

    /// Rebalance callbacks so far (the poll loop's per-partition lookups go stale at each).
    var rebalances = 0

    func assigned(_ parts: [TopicPartition]) -> [TopicPartition: Int64] {
        rebalances += 1
        var starts: [TopicPartition: Int64] = [:]
        let began = DispatchTime.now().uptimeNanoseconds
        let ids = Set(parts.map(\.partition)).sorted()
        // Restored side by side, a thread each: each waits on Postgres and on its transactional
        // producer's registration and marker read, not on the others (`concurrentPerform` ran
        // only as many at once as there are cores: 16 tasks took 1.2 s on 2 cores, in rounds).
        let new = ids.filter { tasks[$0] == nil }
        // (makeTask reads only what init set; each result slot is written by one thread.)
        let me = UncheckedBox(self)
        let made = UncheckedBox([Result<PipelineTask, Error>?](repeating: nil, count: new.count))
        let lock = NSLock()
        let done = DispatchGroup()
        for i in new.indices {
            done.enter()
            Thread {
                let r = Result { try me.value.makeTask(new[i]) }
                lock.lock()
                made.value[i] = r
                lock.unlock()
                done.leave()
            }.start()
        }
        done.wait()
        for (p, r) in zip(new, made.value) {
            switch r {
            case .success(let t)?: tasks[p] = t
            case .failure(let e)?: failure = failure ?? e
            case nil: break
            }
        }
        settings.log("assigned tasks \(ids.map(String.init).joined(separator: ","))" +
                     (ids.isEmpty ? "" : " (restored: \(ids.compactMap { tasks[$0] }.map { "\($0.id)@\($0.checkpointer.checkpointID)" }.joined(separator: " ")))") +
                     String(format: " in %.1f s", Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9))
        for tp in parts {
            // An input partition this task has no position for yet starts at offset 0, not at the
            // logical "beginning": librdkafka resolves that with an offset lookup per partition
            // first (0.6 s before the first fetch on the mock cluster). Were offset 0 gone
            // (retention), the fetch is out of range and `auto.offset.reset=earliest` takes the
            // log's start: the same records either way.
            let fresh: Int64? = inputIndex[tp.topic] != nil ? 0 : nil
            guard var n = tasks[tp.partition]?.next[tp.topic] ?? internalStarts[tp] ?? fresh else { continue }
            // An internal topic behind its recorded position was made anew (a new cluster, e.g. the
            // demo's embedded broker after a restart): drained at every checkpoint, nothing of it
            // was pending; read it from its start.
            if settings.drainInternalTopicsAtCheckpoint, operatorOfTopic[tp.topic] != nil || tp.topic == rerouteTopic || tp.topic == markerTopic,
               let w = try? consumer.watermarks(tp), n > w.high {
                settings.log("internal topic \(tp) ends at \(w.high), before the checkpoint's position \(n): a new cluster; reading it from \(w.low)")
                n = w.low
                tasks[tp.partition]?.next[tp.topic] = n
            }
            starts[tp] = n
        }
        return starts
    }

    func revoked(_ parts: [TopicPartition]) {
        rebalances += 1
        let ids = Set(parts.map(\.partition)).sorted()
        let going = ids.compactMap { tasks[$0] }
        // Each checkpointed before it goes (written side by side, all committed before returning).
        // A revocation can come in the middle of a poll: records this poll already gave a task
        // are processed first — its positions count them, and the next owner starts after them.
        for t in going where !closing && !t.finished && !t.finishing {
            do {
                t.process(inputs: inputs, now: now())
                try t.checkpointer.absorb(t.runner)
                try checkpoint(t, wait: false)
            } catch { failure = failure ?? error }
        }
        for t in going {
            do { try t.checkpointer.finish() } catch { failure = failure ?? error }
            account(t)
            tasks[t.id] = nil
        }
        if !ids.isEmpty { settings.log("revoked tasks \(ids.map(String.init).joined(separator: ","))") }
    }

    /// `--until-end`: marks the inputs of `t` already at their end offset.
    func noteEnds(_ t: PipelineTask) {
        for (i, topic) in inputs.enumerated() where !t.endedInputs.contains(i) {
            let end = endOffsets[TopicPartition(topic, t.id)] ?? 0
            if (t.next[topic] ?? 0) >= end {
                t.endedInputs.insert(i)
                t.runner.finish(partition: i, now: now())
            }
        }
        if !t.sourcesEnded, t.endedInputs.count == inputs.count {
            t.sourcesEnded = true
            t.runner.finish()
        }
    }

    // MARK: the loop

    /// Runs until `shouldStop` says so (then a last checkpoint of every task) or, with
    /// `untilEnd`, until every assigned task has ended its input and committed.
    public func run(shouldStop: () -> Bool) throws -> Summary {
        try consumer.subscribe(inputs + exchangeTopics)
        var lastCheckpoint = now()
        let interval = EpochMillis(settings.checkpointInterval * 1000)
        defer { consumer.close() }
        while true {
            if let failure { throw failure }
            if shouldStop() {
                summary.stoppedBySignal = true
                break
            }
            if !untilEnd, takeEndRequest() {
                for topic in inputs {
                    for p in 0..<taskCount { endOffsets[TopicPartition(topic, p)] = try consumer.watermarks(TopicPartition(topic, p)).high }
                }
                untilEnd = true
                for task in tasks.values { noteEnds(task) }
                settings.log("input ends at the current end offsets (\(endTotal) records)")
            }
            try pollRound()
            if let failure { throw failure }
            let t = now()
            for task in tasks.values.sorted(by: { $0.id < $1.id }) {
                task.runner.tick(now: t)
                try forward(task, now: t)
            }
            // Checkpoints: due by time or by records; a task still writing its last one is paused.
            let dueByTime = t - lastCheckpoint >= interval
            if dueByTime { lastCheckpoint = t }
            for task in tasks.values.sorted(by: { $0.id < $1.id }) where !task.finished {
                if task.finishing {
                    // Its final checkpoint was handed to its writer: done once that committed.
                    guard !task.checkpointer.inFlight else { continue }
                    try task.checkpointer.finish()
                    task.finished = true
                    summary.tasksFinished.append(task.id)
                    settings.log("task \(task.id) ended its input at checkpoint \(task.checkpointer.checkpointID)")
                    continue
                }
                let due = dueByTime || settings.checkpointRecords.map { task.sinceCheckpoint >= $0 } == true
                // Nothing read and the watermark where it was: nothing to write.
                let idle = task.sinceCheckpoint == 0 && task.runner.stageWatermark == task.checkpointedWatermark
                if (due && !idle) || task.paused { try checkpointIfIdle(task) }
                if untilEnd && task.sourcesEnded && task.runner.upstreamEnded && !task.checkpointer.inFlight {
                    // Every task's final checkpoint is written at once (each by its own writer).
                    try checkpoint(task, wait: false)
                    task.finishing = true
                }
            }
            try keepWithinBudget()
            try commitOffsets()
            publish()
            if untilEnd, !tasks.isEmpty, tasks.values.allSatisfy(\.finished),
               consumer.assignment.count == (inputs.count + exchangeTopics.count) * tasks.count {
                break
            }
        }
        // Last checkpoints (a signal, or the end) written side by side, then the offsets, then
        // leave the group.
        for task in tasks.values.sorted(by: { $0.id < $1.id }) where !task.finished && !task.finishing {
            try checkpoint(task, wait: false)
        }
        for task in tasks.values { try task.checkpointer.finish() }
        try commitOffsets(sync: true)
        closing = true
        for task in tasks.values { account(task) }
        consumer.close()
        return summary
    }

    /// Live figures and metrics, at most every 250 ms.
    func publish(force: Bool = false) {
        let t = DispatchTime.now().uptimeNanoseconds
        guard force || t - publishedAt >= 250_000_000 else { return }
        publishedAt = t
        // Records read since the last publication, from the tasks' own per-topic counts (no
        // per-record bookkeeping in the poll loop).
        var recordsIn: [TopicPartition: Int] = [:]
        for task in tasks.values {
            for (topic, n) in task.takeUnpublished(inputs: inputs) { recordsIn[TopicPartition(topic, task.id)] = n }
        }
        PipelineMetrics.recordsIn(recordsIn)
        var lagBy: [TopicPartition: Int64] = [:]
        var watermarks: [Int: Int64] = [:]
        var counters: [String: Int] = [:]
        var records = 0, accepted = 0, late = 0, dead = 0, state = 0
        var byType: [String: Int] = [:], byReason: [String: Int] = [:], busy: [String: Double] = [:], stateBy: [String: Int] = [:]
        var lastID: Int64 = 0
        var positions: [String: Int64] = [:]
        for task in tasks.values {
            for topic in inputs { positions["\(topic)/\(task.id)"] = task.next[topic] ?? 0 }
            records += task.runner.recordsIn; accepted += task.runner.accepted; late += task.runner.late
            dead += task.runner.deadLetterCount
            state += task.checkpointer.lastStateBytes
            lastID = max(lastID, task.checkpointer.committed.id)
            watermarks[task.id] = task.runner.stageWatermark
            for (k, v) in task.runner.counters { counters[k, default: 0] += v }
            for (i, n) in task.runner.acceptedByType.enumerated() where n > 0 { byType[EventType.allCases[i].rawValue, default: 0] += n }
            for (r, n) in task.runner.deadByReason { byReason[r, default: 0] += n }
            for (i, name) in task.runner.stageNames.enumerated() where i < task.runner.stageNanos.count {
                busy[name, default: 0] += Double(task.runner.stageNanos[i]) / 1e9
            }
            for (o, b) in task.runner.stateBytes { stateBy[o, default: 0] += b }
            for topic in inputs {
                let tp = TopicPartition(topic, task.id)
                let high = consumer.cachedHighWatermark(tp)
                if high >= 0 { lagBy[tp] = max(0, high - (task.next[topic] ?? 0)) }
            }
        }
        let checkpoints = summary.checkpoints
        progress.update { p in
            p.recordsIn = records; p.accepted = accepted; p.late = late; p.deadLetters = dead
            p.lag = lagBy.values.reduce(0, +)
            if lastID != p.lastCheckpointID { p.lastCheckpointID = lastID; p.lastCheckpointAt = Date() }
            p.checkpoints = checkpoints
            p.stateBytes = state
            p.tasks = tasks.count
            p.watermark = watermarks.values.min()
            p.positions = positions
        }
        PipelineMetrics.publish(progress.snapshot, lagByPartition: lagBy, watermarks: watermarks, operatorCounters: counters)
        PipelineMetrics.detail(acceptedByType: byType, deadByReason: byReason, operatorSeconds: busy, stateBytes: stateBy)
    }

    /// Adds what a task did in this process to the summary (when it goes, or at the end).
    func account(_ t: PipelineTask) {
        guard !t.accounted else { return }
        t.accounted = true
        summary.records += t.runner.recordsIn
        summary.accepted += t.runner.accepted
        summary.deadLetters += t.runner.deadLetterCount
        summary.misrouted = placement.total.reduce(0, +)
    }

    /// An internal topic's record before its task's position came again (logged once).
    var warnedRewind = false

    /// One poll: records to their tasks, then each task processes its share.
    func pollRound() throws {
        var touched = Set<Int>()
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { summary.processNanos += DispatchTime.now().uptimeNanoseconds - t0 }
        // Where the last record's topic and partition go, looked up once per run of records from
        // one partition (librdkafka hands them over a fetched batch at a time) instead of four
        // hashed lookups per record.
        // A rebalance inside the poll (its callbacks run between records) replaces tasks: looked
        // up again after one.
        var last: (topic: String, partition: Int, task: PipelineTask?, op: String?, reroute: Bool, input: Int?, end: Int64, rebalance: Int)?
        let polled = try consumer.poll(max: settings.batch, timeoutMs: 100) { r in
            if last == nil || last!.partition != r.partition || last!.topic != r.topic || last!.rebalance != rebalances {
                let task = tasks[r.partition]
                let op = operatorOfTopic[r.topic]
                let reroute = r.topic == rerouteTopic
                let end = untilEnd ? endOffsets[TopicPartition(r.topic, r.partition)] ?? .max : .max
                last = (r.topic, r.partition, task, op, reroute, op == nil && !reroute ? inputIndex[r.topic] : nil, end, rebalances)
                if let task, !task.finished { touched.insert(r.partition) }
            }
            guard let task = last!.task, !task.finished else { return }
            if last!.op != nil || last!.reroute {
                if try !task.append(internal: r, operator: last!.op), !warnedRewind {
                    warnedRewind = true
                    settings.log("\(r.topic) [\(r.partition)] delivered offset \(r.offset) again (the task is past it): skipped")
                }
            } else if let i = last!.input {
                if r.offset >= last!.end { return }
                if let owner = placement.owner(topic: i, key: r.key, value: r.value, partition: r.partition, offset: r.offset), let rerouteTopic {
                    // Another task owns its key: it goes there, before this task's next marker.
                    try ExchangeRecord.input(i, origin: r.partition, offset: r.offset, clock: r.timestamp, bytes: r.value).withUnsafeBytes { v in
                        try exchange.produce(topic: rerouteTopic, partition: owner, key: Array(r.key), value: v)
                    }
                    task.skip(input: i, topic: r.topic, offset: r.offset)
                } else {
                    task.append(input: i, r)
                }
            }
        }
        if polled == 0 { summary.emptyPolls += 1 } else { placement.publish() }
        summary.pollNanos += DispatchTime.now().uptimeNanoseconds - t0
        let t = now()
        for p in touched.sorted() {
            guard let task = tasks[p] else { continue }
            task.process(inputs: inputs, now: t)
            try task.checkpointer.absorb(task.runner)
            if untilEnd { noteEnds(task) }
        }
    }

    /// Sends what `task` routed to other tasks, then (at most every 100 ms, or when it changed to
    /// idle or ended) its watermark to every partition of every internal topic.
    func forward(_ task: PipelineTask, now t: EpochMillis) throws {
        for r in task.runner.drainRepartitioned() {
            guard let topic = internalTopics[r.operator] else { continue }
            try ExchangeRecord.event(r.event).withUnsafeBytes { v in
                try exchange.produce(topic: topic, partition: r.partition, key: Array(r.key.utf8), value: v)
            }
        }
        guard !exchangeTopics.isEmpty else { return }
        let wm = task.runner.tracker.current
        let idle = !task.sourcesEnded && task.runner.sourcesIdle(now: t)
        if let a = task.announced, a.watermark == wm, a.idle == idle { return }
        if task.announced != nil, t - task.announcedAt < 100, wm != WatermarkTracker.end, !idle { return }
        let marker = ExchangeRecord.marker(sender: task.id, watermark: wm, idle: idle)
        for topic in exchangeTopics {
            for p in 0..<taskCount {
                try marker.withUnsafeBytes { v in try exchange.produce(topic: topic, partition: p, key: [], value: v) }
            }
        }
        task.announced = (wm, idle)
        task.announcedAt = t
    }

    func partitions(of task: PipelineTask) -> [TopicPartition] {
        (inputs + exchangeTopics).map { TopicPartition($0, task.id) }
    }

    /// The process-wide record budget (`checkpoint.max_process_records`): while the tasks hold
    /// more records between checkpoints than it allows, the task that holds the most records takes
    /// a checkpoint — or, while its previous one is still being written, is paused (it then reads
    /// nothing more and takes its checkpoint as soon as that one is written). Fullest first, one
    /// task at a time, so the budget spreads checkpoints over the tasks instead of cutting all of
    /// them at once. What the tasks hold stays under the budget plus one poll (`batch`), or two
    /// when every task over it is still writing its previous checkpoint.
    func keepWithinBudget() throws {
        let live = tasks.values.filter { !$0.finishing && !$0.finished }
        var held = live.reduce(0) { $0 + $1.sinceCheckpoint }
        summary.peakHeldRecords = max(summary.peakHeldRecords, held)
        guard let budget = settings.checkpointProcessRecords, held > budget else { return }
        for task in live.sorted(by: { ($0.sinceCheckpoint, $1.id) > ($1.sinceCheckpoint, $0.id) }) {
            guard held > budget, task.sinceCheckpoint > 0 else { break }
            let since = task.sinceCheckpoint
            let writing = task.checkpointer.inFlight
            try checkpointIfIdle(task)
            if !writing {
                held -= since
                summary.budgetCheckpoints += 1
            }
        }
    }

    /// Checkpoints `task` unless its previous checkpoint is still being written; then its
    /// partitions are paused until it is done (backpressure without blocking the group's poll).
    func checkpointIfIdle(_ task: PipelineTask) throws {
        if task.checkpointer.inFlight {
            if !task.paused {
                consumer.pause(partitions(of: task))
                task.paused = true
            }
            return
        }
        if task.paused {
            consumer.pause(partitions(of: task), resume: true)
            task.paused = false
        }
        try checkpoint(task, wait: false)
    }

    /// Takes a checkpoint of `task`: what it routed is in Kafka first (its positions must not claim
    /// records whose routed events could still be lost), then the cut is handed to its writer.
    func checkpoint(_ task: PipelineTask, wait: Bool) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { summary.checkpointNanos += DispatchTime.now().uptimeNanoseconds - t0 }
        try forward(task, now: now())
        try exchange.flush()
        if settings.drainInternalTopicsAtCheckpoint { try drainInternal(task) }
        let c0 = DispatchTime.now().uptimeNanoseconds
        try task.checkpointer.checkpoint(task.runner, offset: Int64(task.runner.recordsIn), positions: task.next)
        PipelineMetrics.checkpoint(seconds: Double(DispatchTime.now().uptimeNanoseconds - c0) / 1e9, stateBytes: task.checkpointer.lastStateBytes)
        progress.update { $0.lastCheckpointSeconds = Double(DispatchTime.now().uptimeNanoseconds - c0) / 1e9 }
        task.sinceCheckpoint = 0
        task.checkpointedWatermark = task.runner.stageWatermark
        summary.checkpoints += 1
        if wait { try task.checkpointer.finish() }
    }

    /// Pauses the task's inputs and polls until it has read its internal-topic partitions to
    /// their ends (what it and the others routed to it so far), re-forwarding what that routes.
    func drainInternal(_ task: PipelineTask) throws {
        let internals = exchangeTopics.map { TopicPartition($0, task.id) }
        guard !internals.isEmpty else { return }
        let inputs = self.inputs.map { TopicPartition($0, task.id) }
        // Inputs held, internal topics read (they are paused too while a checkpoint of the
        // task is in flight); afterwards as before.
        consumer.pause(inputs)
        consumer.pause(internals, resume: true)
        defer {
            if task.paused { consumer.pause(internals) } else { consumer.pause(inputs, resume: true) }
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + 60_000_000_000
        while true {
            var behind = false
            for tp in internals {
                let high = try consumer.watermarks(tp).high
                if (task.next[tp.topic] ?? 0) < high { behind = true }
            }
            if !behind { return }
            guard DispatchTime.now().uptimeNanoseconds < deadline else {
                throw RuntimeError(description: "task \(task.id) could not read its internal topics to their end within 60 s before a checkpoint")
            }
            try pollRound()
            for t in tasks.values { try forward(t, now: now()) }
            try exchange.flush()
        }
    }

    struct RuntimeError: Error, CustomStringConvertible { var description: String }

    /// Commits to the group the offsets of every checkpoint Postgres has committed since.
    func commitOffsets(sync: Bool = false) throws {
        for task in tasks.values {
            let c = task.checkpointer.committed
            guard c.id > task.kafkaCommitted else { continue }
            var offsets: [TopicPartition: Int64] = [:]
            for (topic, n) in c.positions { offsets[TopicPartition(topic, task.id)] = n }
            do { try consumer.commit(offsets, async: !sync) } catch { settings.log("committing offsets of task \(task.id) to the group: \(error)") }
            task.kafkaCommitted = c.id
        }
        exchange.poll()
    }
}

/// A value handed to other threads where the code guarantees it is safe (said at each use).
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

import Domain
import Foundation
import Ingest
import Operators
import Sinks

/// A pipeline fed from an NDJSON[.zst] file (`wakala replay`): the file's lines in batches, each
/// line's number its offset. Bounded: at the end the watermark goes to the end of time.
public struct FileSource: Sendable {
    public let path: String
    public let batch: Int
    public init(path: String, batch: Int = 4096) { self.path = path; self.batch = batch }

    /// The file's size in bytes (for progress).
    public var size: Int64 { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0 }

    /// Hands the runner every batch of lines after line `skip`, then calls `afterBatch` with the
    /// last line number, the batch's size and the file bytes read so far. Reading and decoding run
    /// on a thread of their own, at most two batches ahead of the operators (both cores: decode
    /// is a third to a half of a replay without sinks); the runner sees the batches in file order,
    /// so results do not change.
    ///
    /// `decodeAhead: false` reads and decodes on the caller's thread: `replay --sinks` does, as
    /// its second core is taken by the Parquet encoder and the checkpoint writer (decoding ahead
    /// measured no gain there: 2.7–2.9 s for the generated week either way).
    public func feed(_ runner: PipelineRunner, skip: Int64 = 0, decodeAhead: Bool = true, now: () -> EpochMillis,
                     afterBatch: (_ lastOffset: Int64, _ count: Int, _ bytesRead: Int64) throws -> Void) throws {
        try establishClock(runner)
        guard decodeAhead else { return try feedInline(runner, skip: skip, now: now, afterBatch: afterBatch) }
        nonisolated(unsafe) let reader = try NDJSONReader(path: path) // used by the decoding thread only
        let decoder = runner.decoder
        let queue = Handoff<(batch: PipelineRunner.DecodedBatch, read: Int64)>(capacity: 2)
        let decoding = Thread {
            struct Cancelled: Error {}
            do {
                try self.batches(reader, skip: skip) { views in
                    guard queue.put((PipelineRunner.decode(views, with: decoder), reader.fileBytesRead)) else { throw Cancelled() }
                }
                queue.finish(nil)
            } catch is Cancelled {
                queue.finish(nil)
            } catch {
                queue.finish(error)
            }
        }
        decoding.name = "wakala.decode"
        decoding.start()
        defer { queue.cancel(); queue.awaitFinished() }
        while let item = try queue.take() {
            runner.process(partition: 0, decoded: item.batch, now: now())
            try afterBatch(item.batch.lastOffset ?? skip, item.batch.count, item.read)
        }
    }
}

extension FileSource {
    /// The file's clock for the `max_future` rule, from its head (the first
    /// ``PipelineRunner/clockSampleRecords`` lines, whatever `skip` is: a resumed run judges by
    /// the same clock as the first).
    func establishClock(_ runner: PipelineRunner) throws {
        let reader = try NDJSONReader(path: path)
        var arena: [UInt8] = []
        var spans: [Range<Int>] = []
        try reader.forEach(limit: PipelineRunner.clockSampleRecords) { bytes, _, _ in
            spans.append(arena.count..<(arena.count + bytes.count))
            arena.append(contentsOf: bytes)
        }
        arena.withUnsafeBytes { all in
            runner.establishClock(partition: 0, sample: spans.lazy.map { UnsafeRawBufferPointer(rebasing: all[$0]) })
        }
    }

    /// Reads, decodes and processes on the caller's thread.
    func feedInline(_ runner: PipelineRunner, skip: Int64, now: () -> EpochMillis,
                    afterBatch: (_ lastOffset: Int64, _ count: Int, _ bytesRead: Int64) throws -> Void) throws {
        let reader = try NDJSONReader(path: path)
        try batches(reader, skip: skip) { views in
            runner.process(partition: 0, records: views, now: now())
            try afterBatch(views.last!.offset, views.count, reader.fileBytesRead)
        }
    }

    /// The file's lines after line `skip`, `batch` at a time, back to back in one buffer: `body`
    /// gets each batch's records (views valid during the call) with their line numbers.
    func batches(_ reader: NDJSONReader, skip: Int64,
                 _ body: ([(bytes: UnsafeRawBufferPointer, offset: Int64)]) throws -> Void) throws {
        var arena: [UInt8] = []
        var spans: [(range: Range<Int>, offset: Int64)] = []
        func flush() throws {
            guard !spans.isEmpty else { return }
            try arena.withUnsafeBytes { all in
                try body(spans.map { (bytes: UnsafeRawBufferPointer(rebasing: all[$0.range]), offset: $0.offset) })
            }
            arena.removeAll(keepingCapacity: true)
            spans.removeAll(keepingCapacity: true)
        }
        _ = try reader.forEach { bytes, line, _ in
            guard line > skip else { return }
            spans.append((arena.count..<(arena.count + bytes.count), line))
            arena.append(contentsOf: bytes)
            if spans.count >= batch { try flush() }
        }
        try flush()
    }
}

/// A bounded hand-off from one producer thread to one consumer: `put` waits while `capacity`
/// items wait; `take` waits for an item, returns nil at the end, or throws the producer's error.
final class Handoff<T>: @unchecked Sendable { // every field under `lock`
    private let lock = NSCondition()
    private var items: [T] = []
    private let capacity: Int
    private var ended = false, cancelled = false
    private var failure: Error?

    init(capacity: Int) { self.capacity = capacity }

    /// False once the consumer has gone (the producer stops).
    func put(_ item: T) -> Bool {
        lock.lock(); defer { lock.unlock() }
        while items.count >= capacity && !cancelled { lock.wait() }
        guard !cancelled else { return false }
        items.append(item)
        lock.broadcast()
        return true
    }

    func finish(_ error: Error?) {
        lock.lock(); defer { lock.unlock() }
        ended = true
        failure = error
        lock.broadcast()
    }

    func take() throws -> T? {
        lock.lock(); defer { lock.unlock() }
        while items.isEmpty && !ended { lock.wait() }
        if !items.isEmpty {
            let item = items.removeFirst()
            lock.broadcast()
            return item
        }
        if let failure { throw failure }
        return nil
    }

    /// The consumer stops taking: a waiting producer returns.
    func cancel() {
        lock.lock(); defer { lock.unlock() }
        cancelled = true
        items.removeAll()
        lock.broadcast()
    }

    /// Waits until the producer has finished (so nothing outlives the feed).
    func awaitFinished() {
        lock.lock(); defer { lock.unlock() }
        while !ended { lock.wait() }
    }
}

/// `wakala replay --sinks`: a file as the source of a checkpointed, exactly-once run — the same
/// sinks and checkpoints as a Kafka run, one task, offsets are line numbers. A rerun resumes after
/// the last committed checkpoint; a stop request finishes the batch in hand and checkpoints.
public final class FileReplay {
    public struct Settings {
        public var postgresURL: String
        public var dataDir: String
        public var batch = 4096
        /// Checkpoint every N records (whole batches) instead of every `checkpointInterval`.
        public var checkpointRecords: Int?
        public var checkpointInterval: Double = 10
        /// Derived events and dead letters to these brokers (at least once; consumers dedupe by
        /// id) instead of part files.
        public var kafkaBrokers: String?
        /// Seconds the first Postgres connection may take before the replay gives up (exit 1).
        public var connectTimeout = 60.0
        /// Where the Postgres URL came from, named in configuration errors.
        public var postgresSetting = "--postgres"
        /// Drop this pipeline's state, read models and files first (`--reset`).
        public var reset = false
        public var log: (String) -> Void = { _ in }
        public init(postgresURL: String, dataDir: String) { self.postgresURL = postgresURL; self.dataDir = dataDir }
    }

    public struct Summary {
        public var resumedAfter: Int64 = 0
        public var lastOffset: Int64 = 0
        public var stoppedBySignal = false
        public var checkpointID: Int64 = 0
        public var retries = 0
        /// The operators' counters at the end of the input, before the final watermark emptied
        /// them (what a stream that goes on would hold: orders, buckets, retired keys …).
        public var countersAtEnd: [(String, Int)] = []
        /// The largest state snapshot a checkpoint wrote (bytes, compressed).
        public var largestStateBytes = 0
    }

    let config: PipelineConfig
    let source: FileSource
    let settings: Settings
    public let runner: PipelineRunner

    public init(config: PipelineConfig, source: FileSource, runner: PipelineRunner, settings: Settings) {
        self.config = config
        self.source = source
        self.runner = runner
        self.settings = settings
    }

    /// Runs to the end of the file (or a stop request); `progress` after each batch.
    public func run(now: @escaping () -> EpochMillis, shouldStop: () -> Bool,
                    progress: (_ bytesRead: Int64) -> Void = { _ in }) throws -> Summary {
        let plan = SinkPlan(config)
        plan.apply(to: runner)
        var producer: KafkaProducer?
        if let brokers = settings.kafkaBrokers {
            producer = try KafkaProducer(brokers: brokers, settings: [("message.max.bytes", String(KafkaProducer.maxMessageBytes))])
        }
        var cs = plan.checkpointer(pipeline: config.name, postgresURL: settings.postgresURL, dataDir: settings.dataDir, task: 0)
        cs.connectTimeout = settings.connectTimeout
        cs.postgresSetting = settings.postgresSetting
        let checkpointer = Checkpointer(cs, kafka: producer, log: settings.log)
        if settings.reset { try checkpointer.reset(describe: settings.log) }
        var summary = Summary()
        summary.resumedAfter = try checkpointer.resume(runner)
        // The checkpoints belong to one input: another file is refused, not silently skipped.
        try checkpointer.bindInput(try Checkpointer.InputIdentity.of(path: source.path))
        let everyRecords = settings.checkpointRecords.map { max(source.batch, ($0 + source.batch - 1) / source.batch * source.batch) }
        var sinceCheckpoint = 0
        var lastCheckpoint = monotonicSeconds()
        var lastOffset = summary.resumedAfter
        struct Stopped: Error {}
        do {
            try source.feed(runner, skip: summary.resumedAfter, decodeAhead: false, now: now) { offset, count, read in
                progress(read)
                try checkpointer.absorb(runner)
                sinceCheckpoint += count
                lastOffset = offset
                let due = everyRecords.map { sinceCheckpoint >= $0 } ?? (monotonicSeconds() - lastCheckpoint >= settings.checkpointInterval
                                                                         || sinceCheckpoint >= config.checkpointMaxRecords)
                let stop = shouldStop()
                if due || stop {
                    try checkpointer.checkpoint(runner, offset: lastOffset)
                    summary.largestStateBytes = max(summary.largestStateBytes, checkpointer.lastStateBytes)
                    sinceCheckpoint = 0
                    lastCheckpoint = monotonicSeconds()
                }
                if stop { throw Stopped() }
            }
        } catch is Stopped {
            summary.stoppedBySignal = true
        }
        if !summary.stoppedBySignal {
            summary.countersAtEnd = runner.counters
            runner.finish()
            try checkpointer.checkpoint(runner, offset: lastOffset)
        }
        try checkpointer.finish()
        summary.lastOffset = lastOffset
        summary.checkpointID = checkpointer.checkpointID
        summary.retries = checkpointer.retries
        return summary
    }

    private func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

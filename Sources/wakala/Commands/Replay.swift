import CSupport
import ArgumentParser
import Domain
import Engine
import Foundation
import Ingest
import Operators
import Sinks
import Lifecycle

/// `wakala replay`: the pipeline over an NDJSON file instead of Kafka (bounded: at the end the
/// watermark goes to the end of time and every open window fires).
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a pipeline from an NDJSON[.zst] file, with a progress line on a terminal.",
        discussion: "Writes each operator's rows to DIR/<operator>.ndjson and dead letters to DIR/dlq/dead-letters.ndjson with --out, else the rows to standard output as NDJSON with an \"operator\" field.")

    @Option(help: "The pipeline file.") var pipeline: String
    @Option(help: "An .ndjson or .ndjson.zst file.") var input: String
    @Option(help: "Folder for the outputs (else the rows go to standard output; WAKALA_DATA_DIR and --data do not change where).") var out: String?
    @Option(help: "Records per batch.") var batch: Int = 4096
    @Flag(help: "Write the pipeline's sinks exactly once: Postgres read models, Parquet files, derived events and dead letters, committed at checkpoints; a rerun resumes from the last checkpoint.")
    var sinks = false
    @Option(help: "Postgres for --sinks (env WAKALA_POSTGRES_URL; default: the pipeline's postgres sink).") var postgres: String?
    @Option(help: "Data folder for --sinks: Parquet (the pipeline's path), derived/, dlq/ (env WAKALA_DATA_DIR).") var data: String?
    @Option(help: "With --sinks: checkpoint every N records (rounded up to whole batches) instead of the pipeline's checkpoint interval.")
    var checkpointRecords: Int?
    @Option(name: .customLong("brokers"), help: "With --sinks: send derived events and dead letters to these Kafka brokers (the pipeline's topics) instead of derived/ and dlq/ files.")
    var kafka: String?
    @Option(name: .customLong("kafka"), help: .hidden) var oldKafka: String?
    @Option(help: "With --sinks: how long Postgres may take to answer at start (down, starting, a refused port) before the replay gives up with exit 1; a URL libpq cannot read, a refused login or a missing database fail at once with exit 2. Later outages pause the input and are retried; SIGTERM/SIGINT stop within 10 s either way.")
    var connectTimeout: DurationArg = DurationArg(millis: 60_000)
    @Flag(help: "With --sinks: first drop this pipeline's checkpoints and state, empty the read models and delete its Parquet, derived and dead-letter part files (each said before it goes), then replay from the start. Needed to replay another file into the same --data and database.")
    var reset = false

    func validate() throws {
        if let oldKafka { throw ValidationError("--kafka is now --brokers (as on every command): wakala replay … --sinks --brokers \(oldKafka)") }
    }

    /// The pipeline's runner over one partition; a topology this build cannot run is a usage error.
    func makeRunner(_ config: PipelineConfig) throws -> PipelineRunner {
        do {
            return try PipelineRunner(config: config, partitions: [0], now: nowMillis())
        } catch let e as PipelineRunner.Unsupported {
            note(e.description)
            throw ExitCode(2)
        }
    }

    func run() throws {
        tuneMalloc()
        if let data { setenv("WAKALA_DATA_DIR", data, 1) }
        let config = try loadPipeline(pipeline)
        guard FileManager.default.fileExists(atPath: input) else { throw ValidationError("no such file: \(input)") }
        if sinks { return try runWithSinks(config) }
        let runner = try makeRunner(config)
        let began = monotonicSeconds()
        let source = FileSource(path: input, batch: batch)
        let progress = ReplayProgress(size: source.size)
        try source.feed(runner, now: nowMillis) { _, _, read in
            progress.update(records: runner.recordsIn, watermark: runner.tracker.current, read: read)
        }
        runner.finish()
        progress.done()
        try writeOutputs(runner, config: config)
        let seconds = monotonicSeconds() - began
        var summary = String(format: "replayed %d records in %.1f s (%.0f /s): %d accepted, %d dead letters (%d late)",
                             runner.recordsIn, seconds, Double(runner.recordsIn) / max(seconds, 0.001), runner.accepted,
                             runner.deadLetters.count, runner.late)
        let counts = Dictionary(uniqueKeysWithValues: zip(runner.stageNames, runner.outputs.map(\.count)))
        for op in config.operators where op.type == "window_aggregate" { summary += "\n  \(op.name): \(counts[op.name] ?? 0) rows" }
        for (name, n) in runner.counters { summary += "\n  \(name): \(n)" }
        note(summary)
        // The process ends after this: the operators' state is left to the OS rather than freed
        // object by object (tens of milliseconds for a week's state).
        _ = Unmanaged.passRetained(runner)
    }

    func writeOutputs(_ runner: PipelineRunner, config: PipelineConfig) throws {
        guard let dir = out else {
            let rows = runner.rows
            for op in config.operators {
                for row in rows[op.name] ?? [] {
                    print("{\"operator\":\(OutputValue.string(op.name).json),\(row.json.dropFirst())")
                }
            }
            return
        }
        try FileManager.default.createDirectory(atPath: dir + "/dlq", withIntermediateDirectories: true)
        // Each operator's file on its own thread (they are independent; the input has ended and
        // the cores are free), rows formatted straight into a buffer flushed every megabyte.
        let results = Dictionary(uniqueKeysWithValues: zip(runner.stageNames, runner.outputs))
        let ops = config.operators.map(\.name).filter { !(results[$0] ?? []).isEmpty }
        _ = try sideBySide(ops.count) { i in
            let w = try FileWriter(path: "\(dir)/\(ops[i]).ndjson")
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20 + 4096)
            for result in results[ops[i]]! {
                result.appendRowJSON(to: &buffer)
                buffer.append(0x0A)
                if buffer.count >= 1 << 20 { try w.write(buffer); buffer.removeAll(keepingCapacity: true) }
            }
            try w.write(buffer)
            try w.close()
        }
        let w = try FileWriter(path: "\(dir)/dlq/dead-letters.ndjson")
        for d in runner.deadLetters { try w.write(Array((d.json + "\n").utf8)) }
        try w.close()
    }
}

/// Wall-clock milliseconds (processing time for idleness).
func nowMillis() -> EpochMillis { EpochMillis(Date().timeIntervalSince1970 * 1000) }

/// `records, events/s, watermark, lag to end of file` on standard error, on a terminal only.
final class ReplayProgress {
    private let enabled = isatty(2) == 1
    private let size: Int64
    private let began = monotonicSeconds()
    private var last = 0.0

    init(size: Int64) { self.size = size }

    func update(records: Int, watermark: EpochMillis, read: Int64) {
        guard enabled else { return }
        let now = monotonicSeconds()
        guard now - last > 0.2 else { return }
        last = now
        let rate = Double(records) / max(0.001, now - began)
        let wm = watermark == WatermarkTracker.start ? "—" : RFC3339.format(watermark)
        let lag = size > 0 ? String(format: "%.1f%% of the file to go", 100 * Double(max(0, size - read)) / Double(size)) : ""
        FileHandle.standardError.write(Data("\rreplay: \(records) records, \(Int(rate)) /s, watermark \(wm), \(lag)\u{1B}[K".utf8))
    }

    func done() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

extension Replay {
    /// `--sinks`: the file as the source of a checkpointed, exactly-once run (``FileReplay``).
    func runWithSinks(_ config: PipelineConfig) throws {
        let plan = SinkPlan(config)
        guard let url = postgres ?? env("WAKALA_POSTGRES_URL") ?? plan.postgresURL else {
            note("--sinks needs a Postgres URL (--postgres, WAKALA_POSTGRES_URL or a postgres sink in \(pipeline))")
            throw ExitCode(2)
        }
        var settings = FileReplay.Settings(postgresURL: url, dataDir: data ?? env("WAKALA_DATA_DIR") ?? "data")
        settings.batch = batch
        settings.checkpointRecords = checkpointRecords
        settings.checkpointInterval = Double(config.checkpointInterval) / 1000
        settings.kafkaBrokers = kafka
        settings.connectTimeout = Double(connectTimeout.millis) / 1000
        settings.reset = reset
        settings.postgresSetting = postgres != nil ? "--postgres" : env("WAKALA_POSTGRES_URL") != nil ? "WAKALA_POSTGRES_URL" : "\(pipeline): sinks.postgres.url"
        settings.log = { note("wakala replay: \($0)") }
        let source = FileSource(path: input, batch: batch)
        let runner = try makeRunner(config)
        let replay = FileReplay(config: config, source: source, runner: runner, settings: settings)
        // SIGTERM / SIGINT: stop after the batch in hand, take a last checkpoint, exit 0; a rerun
        // resumes there. A retry in progress (Postgres away) stops too: exit 1 with the reason.
        Shutdown.installSignalHandlers()
        let began = monotonicSeconds()
        let progress = ReplayProgress(size: source.size)
        // Live heap (allocated, not freed), sampled: RSS also counts freed pages the allocator has
        // not returned yet, which swing with each checkpoint cycle; this says whether the live
        // part grows.
        var heapPeak = 0, heapSampled = 0.0
        let summary: FileReplay.Summary
        do {
            summary = try replay.run(now: nowMillis, shouldStop: { Shutdown.requested }) { read in
                progress.update(records: runner.recordsIn, watermark: runner.tracker.current, read: read)
                let t = monotonicSeconds()
                if t - heapSampled >= 0.25 { heapSampled = t; heapPeak = max(heapPeak, wakala_heap_in_use()) }
            }
        } catch let e as SettingError {
            progress.done()
            note("wakala replay: \(e)")
            throw ExitCode(2)
        } catch let e as Checkpointer.OtherInput {
            progress.done()
            note("wakala replay: \(e)")
            throw ExitCode(2)
        }
        progress.done()
        if summary.stoppedBySignal {
            note("wakala replay: stopped on a signal after offset \(summary.lastOffset); checkpoint \(summary.checkpointID) committed — run the same command again to resume")
            return
        }
        let seconds = monotonicSeconds() - began
        note(String(format: "replayed %d records in %.1f s (%.0f /s) after offset %lld: %d accepted, %d dead letters; checkpoint %lld committed%@",
                    runner.recordsIn, seconds, Double(runner.recordsIn) / max(seconds, 0.001), summary.resumedAfter, runner.accepted,
                    runner.deadLetterCount, summary.checkpointID,
                    summary.retries > 0 ? " (after \(summary.retries) retries)" : ""))
        note("  heap in use at most \(heapPeak >> 20) MB (sampled every 0.25 s); largest state snapshot: \(summary.largestStateBytes) bytes; held at the end of the input: "
             + summary.countersAtEnd.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
    }
}

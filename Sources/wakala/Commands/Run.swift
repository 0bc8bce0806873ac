import ArgumentParser
import Hummingbird
import Logging
import Metrics
import Prometheus
import Serve
import ServiceLifecycle
import Domain
import Engine
import Foundation
import Ingest
import Operators
import Lifecycle

/// `wakala run`: the production mode (CONTRACT §3.1, §4) — the pipeline's Kafka source in, its
/// Postgres, Parquet and Kafka sinks out, exactly once through checkpoints; more processes with
/// the same group share the partitions (the Kafka Streams model).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline from Kafka into Postgres, Parquet and Kafka; scale out by starting more with the same group.",
        discussion: """
        Partition p of every input topic is task p: its operator state, watermark and checkpoint row \
        (Postgres, one transaction per checkpoint with the read models, Parquet files and source \
        positions) move between processes only through that checkpoint. After each checkpoint the \
        same offsets are committed to the consumer group, so Kafka lag tools see them. Events keyed \
        for another task (deliveries by driver) go through the internal topic \
        <pipeline>-<operator>-repartition, created with the inputs' partition count. Each key is \
        owned by the task its partition names under the source's `partitioner`: murmur2 (Kafka's \
        Java default, librdkafka's murmur2_random) or crc32 (librdkafka's own default, \
        consistent_random, which Python, Go, .NET clients and kcat use unless told otherwise); \
        auto, the default, decides from the first keyed records (waiting for them when the topics \
        are empty) and records the choice. Every record is checked: one a producer placed \
        otherwise, or a keyless one read by a task that does not own its tenant (a location's \
        driver), is forwarded to its owner through the internal topic <pipeline>-reroute, so \
        producers that disagree still give exact results; misplaced keyed records are counted \
        (wakala_misrouted_records_total{topic}, wakala_forwarded_records_total) and each topic's \
        first is reported with the fix.

        Start: Kafka and Postgres that do not answer (down, starting, a refused port) are retried \
        with backoff for --connect-timeout (default 60s), then exit 1 naming them. Settings that \
        cannot work fail at once with exit 2 naming the setting: a Postgres URL libpq cannot read, \
        a refused login, a database that does not exist, a pipeline file problem, a missing topic, \
        input topics with different partition counts. Once running, an outage of either pauses the \
        input and is retried until it heals (logged at warning; wakala_postgres_retries_total).

        SIGTERM or Ctrl-C, whatever the run is doing (retrying included): it stops within 10 s — \
        finish the batch in hand, checkpoint every task, commit the offsets, leave the group, exit 0; \
        when the last checkpoint cannot be written (Postgres or Kafka away), exit 1 with the reason \
        (the previous checkpoint stands: nothing is committed half, a rerun resumes there).
        """)

    @Option(help: "The pipeline file.") var pipeline: String
    @Flag(help: "Read up to the end offsets the input partitions had at start, then end the input as replay does (every window and held event emitted), take a final checkpoint and exit 0.")
    var untilEnd = false
    @Option(help: "Kafka bootstrap servers (env WAKALA_KAFKA_BROKERS; default: the pipeline's source).") var brokers: String?
    @Option(help: "Consumer group (default: the source's group, else the pipeline's name).") var group: String?
    @Option(help: "Postgres URL (env WAKALA_POSTGRES_URL; default: the pipeline's postgres sink).") var postgres: String?
    @Option(help: "Data folder: Parquet (the pipeline's path), derived/ and dlq/ with --outputs files (env WAKALA_DATA_DIR).") var data: String?
    @Option(help: "Records per poll.") var batch: Int = 4096
    @Option(help: "Also checkpoint a task once it has taken N records since its last checkpoint (default: the pipeline's checkpoint.max_records, 200000).") var checkpointRecords: Int?
    @Option(help: "Checkpoint the task holding the most records once this process's tasks hold N records together since their checkpoints (default: the pipeline's checkpoint.max_process_records, 1000000): bounds memory whatever the number of partitions assigned.") var checkpointProcessRecords: Int?
    @Option(help: "Time between checkpoints, e.g. 2s (default: the pipeline's checkpoint.interval).") var checkpointInterval: DurationArg?
    @Option(help: "Where derived events and dead letters go: kafka (the pipeline's topics) or files (derived/, dlq/ part files).")
    var outputs: String = "kafka"

    @Option(help: "How long Kafka and Postgres may take to answer at start before the run gives up (exit 1).") var connectTimeout: DurationArg = DurationArg(millis: 60_000)
    @Option(help: "Serve /metrics (Prometheus) and /healthz on this loopback port (0: any; unset: none).") var metricsPort: Int?
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ["kafka", "files"].contains(outputs) else { throw ValidationError("--outputs is kafka or files") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        if let n = checkpointRecords, n <= 0 { throw ValidationError("--checkpoint-records must be positive") }
        if let n = checkpointProcessRecords, n <= 0 { throw ValidationError("--checkpoint-process-records must be positive") }
    }

    func run() throws {
        tuneMalloc()
        if let data { setenv("WAKALA_DATA_DIR", data, 1) }
        if let brokers { setenv("WAKALA_KAFKA_BROKERS", brokers, 1) }
        let config = try loadPipeline(pipeline)
        guard let source = config.sources.first(where: { $0.type == "kafka" }) else {
            note("\(pipeline): run needs a kafka source (replay reads files)")
            throw ExitCode(2)
        }
        guard let url = postgres ?? env("WAKALA_POSTGRES_URL") ?? SinkPlan(config).postgresURL else {
            note("\(pipeline): no Postgres (--postgres, WAKALA_POSTGRES_URL or a postgres sink)")
            throw ExitCode(2)
        }
        let dataDir = data ?? env("WAKALA_DATA_DIR") ?? "data"
        var settings = KafkaPipeline.Settings(brokers: brokers ?? env("WAKALA_KAFKA_BROKERS") ?? source.params["brokers"] ?? "127.0.0.1:9092",
                                              group: group ?? source.params["group"] ?? config.name, postgresURL: url,
                                              dataDir: dataDir)
        settings.untilEnd = untilEnd
        settings.batch = batch
        settings.checkpointRecords = checkpointRecords ?? config.checkpointMaxRecords
        settings.checkpointProcessRecords = checkpointProcessRecords ?? config.checkpointMaxProcessRecords
        settings.checkpointInterval = Double(checkpointInterval?.millis ?? config.checkpointInterval) / 1000
        settings.outputsToKafka = outputs == "kafka"
        settings.connectTimeout = Double(connectTimeout.millis) / 1000
        settings.postgresSetting = postgres != nil ? "--postgres" : env("WAKALA_POSTGRES_URL") != nil ? "WAKALA_POSTGRES_URL" : "\(pipeline): sinks.postgres.url"
        let logger = logging.logger("wakala.run")
        settings.log = { logger.info("\($0)") }
        settings.warn = { logger.warning("\($0)") }
        settings.error = { logger.error("\($0)") }
        // SIGTERM/SIGINT reach every retry loop (and arm the watchdog) as well as the group below.
        Shutdown.installSignalHandlers()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let began = monotonicSeconds()
        // The loop and the metrics endpoint in one ServiceGroup: SIGINT/SIGTERM stop both
        // gracefully (last checkpoint, leave the group); a bounded run's end stops the group. The
        // pipeline is made inside its service, so /metrics and /healthz answer while it joins
        // Kafka and Postgres (and, with `partitioner: auto` on empty topics, waits for records).
        let fixed = settings, until = untilEnd
        let pipelineService = PipelineService(make: { try KafkaPipeline(config: config, settings: fixed) }, started: { driver in
            note("wakala run: pipeline \(config.name), group \(fixed.group) at \(fixed.brokers): \(driver.taskCount) tasks" +
                 (until ? ", until the end offsets at start (\(driver.endTotal) records)" : ""))
        })
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: pipelineService, successTerminationBehavior: .gracefullyShutdownGroup)]
        if let metricsPort {
            let router = Router()
            router.get("/metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
            }
            router.get("/healthz") { _, _ in "ok" }
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: metricsPort), serverName: "wakala-run"),
                                  onServerRunning: { logger.notice("metrics on http://127.0.0.1:\($0.localAddress?.port ?? 0)/metrics") }, logger: logger)
            services.append(.init(service: Listener(app, host: "127.0.0.1", port: metricsPort, setting: "--metrics-port")))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do { try awaitSync { try await group.run() } } catch let e as KafkaPipeline.ConfigurationError {
            note(e.description)
            throw ExitCode(2)
        } catch let e as SettingError {
            note("wakala run: \(e)")
            throw ExitCode(2)
        } catch let e as ListenFailure {
            note("wakala run: \(e)")
            throw ExitCode(2)
        } catch { throw RuntimeFailure("\(error)") }
        guard let summary = pipelineService.summary.get else { throw RuntimeFailure("the pipeline stopped without a summary") }
        let seconds = monotonicSeconds() - began
        note(String(format: "wakala run: %@ after %.1f s: %d records (%.0f /s), %d accepted, %d dead letters, %d checkpoints%@",
                    summary.stoppedBySignal ? "stopped on a signal" : "done", seconds, summary.records,
                    Double(summary.records) / max(seconds, 0.001), summary.accepted, summary.deadLetters, summary.checkpoints,
                    summary.tasksFinished.isEmpty ? "" : "; tasks ended: \(summary.tasksFinished.sorted().map(String.init).joined(separator: ","))"))
        if summary.misrouted > 0 {
            note("wakala run: \(summary.misrouted) input records were not in the partition their key maps to (see the warnings): each was forwarded to the task that owns its key")
        }
        note(String(format: "wakala run: loop time: %.1f s polling (%d empty polls), %.1f s processing, %.1f s taking checkpoints; at most %d records held between checkpoints (%d checkpoints for the process budget of %d)",
                    Double(summary.pollNanos) / 1e9, summary.emptyPolls, Double(summary.processNanos - summary.pollNanos) / 1e9,
                    Double(summary.checkpointNanos) / 1e9, summary.peakHeldRecords, summary.budgetCheckpoints,
                    settings.checkpointProcessRecords ?? 0))
    }
}

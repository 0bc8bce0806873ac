import ArgumentParser
import Crypto
import Domain
import Engine
import Foundation
import Gateway
import Ingest
import Logging
import Metrics
import Operators
import Prometheus
import Serve
import ServiceLifecycle
import Sinks
import Synchronization
import Postgres
import Lifecycle

/// `wakala demo` (CONTRACT §4): the product as it runs in production, on the embedded default —
/// an embedded Kafka (librdkafka's mock cluster) fed a generated stream at a steady pace (the
/// past days first, then live), the default pipeline consuming it exactly as `wakala run` does,
/// the dashboard server and the webhook gateway; a private PostgreSQL. Ctrl-C stops everything;
/// a rerun resumes.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The whole product live on the embedded default: generated traffic through Kafka, the pipeline, the dashboard.",
        discussion: """
        Prints the dashboard URL with a ready token, then a status line (events in, events/s, \
        consumer lag, dead letters, last checkpoint). Ctrl-C: final checkpoint, servers and \
        Postgres stopped, nothing left running; run it again to resume (its folder keeps the \
        stream's settings, the tokens' secret, the clock and Postgres). After a SIGKILL the next \
        start recovers from the last checkpoint: the embedded broker is rebuilt from the same \
        seed, record for record, so the checkpoint's offsets still point at the same records.
        """)

    @Option(help: "Dashboard port (the webhook gateway listens on the next one).") var port: Int = 8080
    @Option(help: "Generated minutes per real second.") var speed: Double = 60
    @Option(help: "Tenants in the generated stream (first start only).") var tenants: Int = 5
    @Option(help: "Days of history produced at once before live traffic (first start only).") var backlogDays: Int = 7
    @Option(help: "Folder for Postgres, Parquet and the demo's state (env WAKALA_DATA_DIR).") var data: String?
    @Option(help: "The demo clock's first instant, RFC 3339 (first start only; default: 09:00 in Johannesburg today, so trading hours whatever the real hour).") var now: String?
    @Option(help: "Days of live traffic after the backlog (first start only).") var liveDays: Int = 30
    @Flag(help: "Stop once the whole generated stream is produced and consumed (tests).") var exitAtEnd = false
    @OptionGroup var logging: LoggingOptions

    /// Where the default clock starts: 09:00 of the current day, tenant time.
    static let openingHour: Int64 = 9 * 3_600_000

    /// What a rerun must keep: the stream (seed, tenants, first day, days), the clock, the secret.
    struct State: Codable {
        var seed: UInt64
        var tenants: Int
        var start: Int64
        var days: Int
        var clock: Int64
        var secret: String
        /// Names this demo in its database (`COMMENT ON DATABASE`), so a database that belongs to
        /// another demo (or to none) is never resumed. Absent in files of older versions.
        var id: String?
    }

    func run() throws {
        tuneMalloc()
        let dir = data ?? env("WAKALA_DATA_DIR") ?? ".wakala"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let statePath = dir + "/demo.json"
        var state: State
        if let d = FileManager.default.contents(atPath: statePath), let s = try? JSONDecoder().decode(State.self, from: d) {
            state = s
            note("wakala demo: resuming the demo in \(dir) (\(s.tenants) tenants; generated clock at \(RFC3339.format(s.clock)))")
        } else {
            var z = TenantZone.johannesburg
            // By default the generated day is at 09:00 tenant time when the dashboard appears
            // (the clock stands still until then): a demo started in the evening would otherwise
            // show the night's empty live tiles.
            guard let first = now.map({ RFC3339.parse($0) }) ?? (z.dayStart(Int64(Date().timeIntervalSince1970 * 1000)) + Self.openingHour) else {
                throw ValidationError("--now must be an RFC 3339 time")
            }
            let start = z.dayStart(first) - Int64(backlogDays) * 86_400_000
            state = State(seed: 7, tenants: tenants, start: start, days: backlogDays + liveDays + 1, clock: first,
                          secret: env("WAKALA_JWT_SECRET") ?? (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max)) }.joined(),
                          id: UUID().uuidString.lowercased())
            try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: statePath))
        }
        if state.id == nil {
            state.id = UUID().uuidString.lowercased()
            try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: statePath))
        }
        let pg: LocalPostgres
        do {
            pg = try LocalPostgres(directory: URL(fileURLWithPath: dir + "/postgres"))
        } catch let e as LocalPostgres.Failure where e.description.contains("cannot enter") {
            // The server user cannot reach the folder (a checkout under a root-only folder): the
            // cluster goes to a folder of the temp dir that is this data folder's alone — named
            // from its absolute path, mode 0700 — never one another demo would also use.
            let fallback = Self.privateFallback(for: dir)
            note("wakala demo: the postgres user cannot enter \(dir); its database lives in \(fallback) instead")
            pg = try LocalPostgres(directory: URL(fileURLWithPath: fallback))
            chmod(fallback, 0o700)
        }
        defer {
            do { try pg.stop(); note("wakala demo: Postgres stopped") } catch { note("wakala demo: stopping Postgres: \(error)") }
        }
        // Should a stop outlast the signal's 10 s, the private server goes too.
        let server = pg
        Shutdown.beforeForcedExit { try? server.stop(immediately: true) }
        let url = try Self.demoDatabase(pg, id: state.id!, dir: dir)

        // The embedded Kafka: one partition per topic (one task; see drainInternalTopicsAtCheckpoint).
        let broker = try EmbeddedBroker(partitions: 1, topics: Topics.inputs + Topics.outputs + Topics.defaultInternal)
        // Every Kafka client lives in `live` and is gone when it returns, before the broker: a
        // client that outlived it logged "brokers are down" on every Ctrl-C.
        try withExtendedLifetime(broker) {
            try live(broker: broker, state: &state, statePath: statePath, url: url, dir: dir)
        }
    }

    /// The fallback cluster folder of data folder `dir`: `$TMPDIR/wakala-demo-postgres-<16 hex
    /// of the SHA-256 of its absolute path>`.
    static func privateFallback(for dir: String) -> String {
        let absolute = URL(fileURLWithPath: dir).standardizedFileURL.path
        let digest = SHA256.hash(data: Array(absolute.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        return NSTemporaryDirectory() + "wakala-demo-postgres-" + digest
    }

    /// The demo's database, which must be this demo's: made fresh and named (`COMMENT ON
    /// DATABASE`) the first time; one that names another demo, or holds checkpoints without a
    /// name, is dropped and made afresh — with the demo's Parquet and part files — saying so,
    /// rather than resumed under a state file it does not belong to.
    static func demoDatabase(_ pg: LocalPostgres, id: String, dir: String) throws -> String {
        let name = "wakala_demo"
        var url = try pg.createDatabase(name)
        var db = try PGConnection(url: url)
        try Migrations.run(db)
        let owner = try db.query("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()").rows.first?[0] ?? nil
        let checkpoints = Int(try db.query("SELECT count(*) FROM wakala.checkpoints").rows.first?[0] ?? "0") ?? 0
        let mine = "wakala demo " + id
        if owner != mine && (owner != nil || checkpoints > 0) {
            note("wakala demo: the database in \(pg.dataDir.path) belongs to " + (owner.map { "another demo (\($0))" } ?? "no demo state (\(checkpoints) checkpoint rows)")
                 + ", not to \(dir)/demo.json: dropping it and the demo's files, starting afresh")
            db = try PGConnection(url: pg.url())
            try db.execute("DROP DATABASE \(name) WITH (FORCE)")
            try? FileManager.default.removeItem(atPath: dir + "/data")
            url = try pg.createDatabase(name)
            db = try PGConnection(url: url)
            try Migrations.run(db)
        }
        try db.execute("COMMENT ON DATABASE \(name) IS '\(mine)'") // a UUID: nothing to quote
        return url
    }

    /// The demo from its broker on: the stream, the pipeline, the dashboard and the gateway, until
    /// Ctrl-C (or the end, with `--exit-at-end`).
    private func live(broker: EmbeddedBroker, state: inout State, statePath: String, url: String, dir: String) throws {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        // The status line is the demo's voice; logs only say what goes wrong (unless asked).
        var logger = logging.logger("wakala.demo")
        if logging.logLevel == "info" { logger.logLevel = .warning }

        // The stream up to the clock, produced before the pipeline starts (the same records at the
        // same offsets as on the first start), then live.
        let clock = DemoClock(start: state.clock, speed: speed)
        let feeder = try DemoFeeder(state: state, brokers: broker.bootstrapServers, clock: clock)
        // Where the last checkpoint stopped reading (a restart re-produces the stream up to there).
        var positions: [String: Int64] = [:]
        let db = try PGConnection(url: url)
        if let text = try db.query("SELECT positions::text FROM wakala.checkpoints WHERE pipeline = 'analytics' AND partition = 0").rows.first?[0] ?? nil,
           let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            for (k, v) in obj { positions[k] = (v as? NSNumber)?.int64Value ?? 0 }
        }
        let t0 = monotonicSeconds()
        feeder.start(positions: positions)
        try feeder.waitForCatchUp()
        if !positions.isEmpty {
            note(String(format: "wakala demo: the stream re-produced up to the last checkpoint (%d records, %.1f s)", feeder.produced, monotonicSeconds() - t0))
        }

        let absolute = URL(fileURLWithPath: dir).standardizedFileURL.path
        var config: PipelineConfig
        do {
            // Parquet and part files under the demo's folder, whatever the working directory.
            config = try PipelineConfig.load(path: try Self.pipelinePath(),
                                             environment: ProcessInfo.processInfo.environment.merging(["WAKALA_DATA_DIR": absolute + "/data",
                                                                                                       "WAKALA_KAFKA_BROKERS": broker.bootstrapServers]) { $1 })
        } catch let e as ConfigErrors {
            for err in e.errors { note(err.description) }
            throw ExitCode(2)
        }
        // Generated time runs `speed`× real time: a partition without records for 5 real seconds
        // (minutes of generated time) is idle, as the file's 60 s would be in production.
        config.eventTime.idleTimeout = min(config.eventTime.idleTimeout, 5_000)
        var settings = KafkaPipeline.Settings(brokers: broker.bootstrapServers, group: "wakala-demo", postgresURL: url, dataDir: absolute + "/data")
        settings.checkpointInterval = 2
        settings.checkpointRecords = config.checkpointMaxRecords
        settings.drainInternalTopicsAtCheckpoint = true
        settings.log = { [logger] in logger.info("\($0)") }
        let pipeline = try KafkaPipeline(config: config, settings: settings)
        feeder.attach(pipeline.progress)

        var serve = ServeSettings(postgresURL: url)
        serve.port = port
        serve.jwtSecret = state.secret
        serve.now = { clock.now() }
        let serveFixed = serve, log = logger, secret = state.secret
        let dashboard = try awaitSync { try await DashboardServer(serveFixed, registry: registry, logger: log) }
        var gw = GatewaySettings(brokers: broker.bootstrapServers)
        gw.port = port == 0 ? 0 : port + 1
        gw.whatsappAppSecret = env("WAKALA_WHATSAPP_APP_SECRET") ?? state.secret
        gw.paystackSecret = env("WAKALA_PAYSTACK_SECRET") ?? state.secret
        gw.whatsappVerifyToken = env("WAKALA_WHATSAPP_VERIFY_TOKEN") ?? "wakala-demo"
        let gateway = try GatewayServer(gw, registry: registry, logger: logger)

        let tokens = try awaitSync {
            (try await TokenVerifier.sign(DashboardClaims(tenantID: "t-0001", expires: Date().addingTimeInterval(30 * 86_400)), secret: secret),
             try await TokenVerifier.sign(DashboardClaims(tenantID: "t-0001", expires: Date().addingTimeInterval(30 * 86_400), role: "platform_admin"),
                                          secret: secret))
        }
        // The URL and tokens once both servers listen (a port in use fails the demo first).
        let listening = ListeningLatch { dashboardPort, gatewayPort in
            clock.begin() // generated time runs from here
            print("""
                wakala demo is running — the dashboard: http://127.0.0.1:\(dashboardPort)/#token=\(tokens.0)
                  token (tenant t-0001):     \(tokens.0)
                  token (platform_admin):    \(tokens.1)
                  API: curl -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:\(dashboardPort)/v1/live'
                  metrics: http://127.0.0.1:\(dashboardPort)/metrics · webhooks: http://127.0.0.1:\(gatewayPort)/webhooks/whatsapp
                Ctrl-C stops everything; run it again to resume.
                """)
            fflush(nil)
        }
        let services: [any Service] = [
            PipelineService(pipeline: pipeline),
            FeederService(feeder: feeder, exitAtEnd: exitAtEnd, end: { [box = SendableBox(pipeline)] in box.value.endInput() }),
            dashboard.service { listening.dashboard($0) },
            gateway.service(setting: "--port: the webhook gateway listens on the next port") { listening.gateway($0) },
            StatusService(progress: pipeline.progress, feeder: feeder, clock: clock, interval: 1),
        ]
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        var failure: Error?
        do { try awaitSync { try await group.run() } } catch { failure = error }
        if let e = failure as? ListenFailure {
            gateway.close()
            dashboard.store.stop()
            note("wakala demo: \(e)")
            throw ExitCode(2)
        }
        gateway.close()
        dashboard.store.stop()
        state.clock = clock.now()
        try? JSONEncoder().encode(state).write(to: URL(fileURLWithPath: statePath))
        let p = pipeline.progress.snapshot
        print("\nwakala demo stopped: \(p.recordsIn) records consumed, checkpoint \(p.lastCheckpointID) committed; run it again to resume")
        if let failure { throw RuntimeFailure("wakala demo: \(failure)") }
    }

    /// The default pipeline file: here, or beside the executable's checkout.
    static func pipelinePath() throws -> String {
        let rel = "Pipelines/analytics.yaml"
        if FileManager.default.fileExists(atPath: rel) { return rel }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent(rel).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw RuntimeFailure("\(rel) not found here or beside the wakala executable; run the demo from the repository")
    }
}

/// The demo's generated time: `start` until ``begin()`` (the dashboard is up), then `speed`
/// generated milliseconds per real one from there.
final class DemoClock: Sendable {
    let start: Int64
    let speed: Double
    /// Uptime (ns) at ``begin()``; 0 before.
    private let began = Atomic<UInt64>(0)
    init(start: Int64, speed: Double) { self.start = start; self.speed = speed }
    /// Starts the clock (once; later calls change nothing).
    func begin() { _ = began.compareExchange(expected: 0, desired: DispatchTime.now().uptimeNanoseconds, ordering: .relaxed) }
    func now() -> Int64 {
        let b = began.load(ordering: .relaxed)
        guard b != 0 else { return start }
        return start + Int64(Double(DispatchTime.now().uptimeNanoseconds - b) / 1e6 * speed)
    }
}

/// Calls `ready` once, when both the dashboard and the gateway listen, with their ports.
final class ListeningLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var ports: (dashboard: Int?, gateway: Int?) = (nil, nil)
    private let ready: @Sendable (Int, Int) -> Void
    init(ready: @escaping @Sendable (Int, Int) -> Void) { self.ready = ready }
    func dashboard(_ p: Int) { lock.lock(); ports.dashboard = p; fire() }
    func gateway(_ p: Int) { lock.lock(); ports.gateway = p; fire() }
    /// Called with the lock held; releases it.
    private func fire() {
        guard let d = ports.dashboard, let g = ports.gateway else { lock.unlock(); return }
        ports = (nil, nil)
        lock.unlock()
        ready(d, g)
    }
}

/// Produces the generated stream into the embedded Kafka in arrival order on a thread of its
/// own: everything up to the clock's start at once (``waitForBacklog()``), then each record when
/// the clock reaches its arrival time. Deterministic (seed, one idempotent producer), so a
/// restart puts the same records at the same offsets.
final class DemoFeeder: @unchecked Sendable {
    let producer: KafkaProducer
    let clock: DemoClock
    let config: GeneratorConfig
    /// Records a topic may run ahead of the pipeline's position: the embedded broker keeps only
    /// ~5 MB per partition and drops the oldest, so the feeder must not outrun the consumer.
    static let maxAhead: Int64 = 6_000
    private let lock = NSLock()
    private var count = 0
    private var perTopic: [String: Int64] = [:]
    private var stopping = false
    private var failure: Error?
    private var progress: PipelineProgress?
    private let caughtUp = DispatchSemaphore(value: 0)
    private let attached = DispatchSemaphore(value: 0)
    let done = DispatchGroup()

    init(state: Demo.State, brokers: String, clock: DemoClock) throws {
        var c = GeneratorConfig()
        c.seed = state.seed
        c.tenants = state.tenants
        c.days = state.days
        c.start = state.start
        c.disorderMillis = 20_000
        c.duplicates = 0.01
        c.malformed = 0.001
        config = c
        producer = try KafkaProducer(brokers: brokers)
        self.clock = clock
    }

    var produced: Int { lock.lock(); defer { lock.unlock() }; return count }
    var producedByTopic: [String: Int64] { lock.lock(); defer { lock.unlock() }; return perTopic }
    func stop() { lock.lock(); stopping = true; lock.unlock(); attached.signal() }
    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return failure }

    struct Stopped: Error {}

    /// Produces on a thread of its own: first, at full speed, up to `positions` (the last
    /// checkpoint's offsets: the same records at the same offsets as before a restart; what lies
    /// before them may be dropped by the broker, being consumed already), then — once
    /// ``attach(_:)`` gave it the pipeline — never more than ``maxAhead`` records ahead of it:
    /// the history up to the clock's start as fast as the pipeline takes it, then live.
    func start(positions: [String: Int64]) {
        done.enter()
        let t = Thread { [self] in
            var generator = StreamGenerator(config)
            var behind = Set(positions.filter { Topics.inputs.contains($0.key) && $0.value > 0 }.keys)
            var live = false
            if behind.isEmpty { caughtUp.signal(); attached.wait() }
            do {
                try generator.generate { r in
                    if isStopping { throw Stopped() }
                    if behind.isEmpty {
                        // Not too far ahead of the pipeline.
                        while let p = progress, (perTopic[r.topic] ?? 0) - (p.snapshot.positions["\(r.topic)/0"] ?? 0) >= Self.maxAhead {
                            if isStopping { throw Stopped() }
                            producer.poll()
                            Thread.sleep(forTimeInterval: 0.01)
                        }
                        if !live && r.arrival > clock.start { live = true }
                        while live && clock.now() < r.arrival {
                            if isStopping { throw Stopped() }
                            producer.poll()
                            Thread.sleep(forTimeInterval: min(0.05, max(0.001, Double(r.arrival - clock.now()) / 1000 / clock.speed)))
                        }
                    }
                    try producer.produce(topic: r.topic, key: r.key, value: r.value, timestamp: r.arrival)
                    lock.lock(); count += 1; perTopic[r.topic, default: 0] += 1; lock.unlock()
                    if !behind.isEmpty, (perTopic[r.topic] ?? 0) >= (positions[r.topic] ?? 0) {
                        behind.remove(r.topic)
                        if behind.isEmpty {
                            try producer.flush(timeout: .seconds(120))
                            caughtUp.signal()
                            attached.wait()
                        }
                    }
                }
                try producer.flush(timeout: .seconds(30))
            } catch is Stopped {
                try? producer.flush(timeout: .seconds(10))
            } catch {
                lock.lock(); failure = error; lock.unlock()
            }
            if !behind.isEmpty { caughtUp.signal() }
            done.leave()
        }
        t.name = "wakala-feeder"
        t.start()
    }

    /// Returns once the records up to the checkpoint's positions are in Kafka.
    func waitForCatchUp() throws {
        caughtUp.wait()
        if let error { throw error }
    }

    /// The pipeline now consumes: produce the rest, paced by its positions and the clock.
    func attach(_ p: PipelineProgress) {
        lock.lock(); progress = p; lock.unlock()
        attached.signal()
    }
}

struct FeederService: Service {
    let feeder: DemoFeeder
    let exitAtEnd: Bool
    /// Asks the pipeline to end its input (``KafkaPipeline/endInput()``).
    let end: @Sendable () -> Void

    func run() async throws {
        let f = feeder
        try await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                f.done.notify(queue: .global()) { c.resume() }
            }
            if let e = f.error { throw e }
            // Done producing: stay until the group stops, or — with --exit-at-end — until the
            // pipeline has read everything (then the group stops: last checkpoint, exit 0).
            if exitAtEnd {
                // The pipeline ends its input where the topics end now (everything produced),
                // emits what it holds, checkpoints and returns: the group then stops.
                end()
                try? await gracefulShutdown()
            } else {
                try? await gracefulShutdown()
            }
        } onCancelOrGracefulShutdown: {
            f.stop()
        }
    }
}

/// The status line: events in, events/s, lag, dead letters, last checkpoint — the same figures
/// `/metrics` carries (both read ``PipelineProgress``).
struct StatusService: Service {
    let progress: PipelineProgress
    let feeder: DemoFeeder
    let clock: DemoClock
    let interval: Double

    func run() async throws {
        let tty = isatty(1) == 1
        var last = progress.snapshot.recordsIn
        var lastAt = monotonicSeconds()
        var printedAt = 0.0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            let p = progress.snapshot
            let t = monotonicSeconds()
            let rate = Double(p.recordsIn - last) / max(0.001, t - lastAt)
            last = p.recordsIn; lastAt = t
            Gauge(label: "wakala_demo_events_per_second").record(rate)
            Gauge(label: "wakala_demo_records_produced").record(feeder.produced)
            Gauge(label: "wakala_records_consumed").record(p.recordsIn)
            let ago = p.lastCheckpointAt.map { String(format: "%.0f s ago", Date().timeIntervalSince($0)) } ?? "none yet"
            // Generated time in the tenants' zone (Johannesburg, as the generated tenants mostly are).
            var zone = TenantZone.johannesburg
            let g = clock.now()
            let local = RFC3339.format(g, offsetSeconds: Int(zone.offsetMillis(at: g) / 1000))
            let line = String(format: "%@ · events in %d (%.0f/s) · lag %lld · dead letters %d · checkpoint #%lld %@",
                              (String(local.prefix(16)).replacingOccurrences(of: "T", with: " ") + " SAST") as NSString,
                              p.recordsIn, rate, p.lag, p.deadLetters, p.lastCheckpointID, ago as NSString)
            if tty {
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
            } else if t - printedAt >= 5 {
                print(line)
                fflush(nil)
                printedAt = t
            }
        }
    }
}


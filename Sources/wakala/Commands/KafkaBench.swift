import ArgumentParser
import Domain
import Foundation
import Ingest
import Sinks

/// `wakala bench kafka`: the whole production path against the raw ceiling, in the same run —
/// `wakala run --until-end` (every operator and sink: Postgres read models, Parquet, derived
/// events and dead letters exactly once to Kafka) vs kcat consuming the same topics to /dev/null —
/// and against a Python stream processor from PyPI (bytewax, scripts/bench/bytewax_rollup.py)
/// computing only the hourly order rollup from the same broker.
struct KafkaBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kafka",
        abstract: "wakala run --until-end with every sink vs kcat reading the same topics (embedded broker, private Postgres).")

    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream (20 tenants × 15 days ≈ 1.05 M events).") var days: Int = 15
    @Option(help: "Partitions per topic (the mock cluster keeps ~5 MB per partition: enough to hold the stream).") var partitions: Int = 16
    @Option(help: "Rounds (kcat, then a run with a fresh group and database, each round).") var rounds: Int = 2
    @Option(help: "Records per poll for the run.") var batch: Int = 4096
    @Option(help: "Processes for the bytewax peer (0: skip it).") var bytewaxProcesses: Int = 2
    @Option(help: "How the producers place keys: murmur2, crc32, or disagree (orders by murmur2, the other topics by CRC-32: the run forwards the misplaced ones).")
    var placement: String = "murmur2"

    func validate() throws {
        guard ["murmur2", "crc32", "disagree"].contains(placement) else { throw ValidationError("--placement is murmur2, crc32 or disagree") }
    }

    func run() throws {
        let kcat = "/usr/bin/kcat"
        guard FileManager.default.isExecutableFile(atPath: kcat) else { throw RuntimeFailure("kcat is not installed (apt-get install kcat)") }
        let broker = try EmbeddedBroker(partitions: partitions, topics: Topics.inputs + Topics.outputs + Topics.defaultInternal)
        let bootstrap = broker.bootstrapServers
        // The stream, produced by our producer (zstd batches, murmur2 keys).
        var config = GeneratorConfig()
        config.seed = 7
        config.tenants = tenants
        config.days = days
        config.disorderMillis = 20_000
        config.duplicates = 0.01
        config.malformed = 0.001
        let t0 = monotonicSeconds()
        let count = try produceGenerated(config, to: broker, partitions: partitions, placement: placement)
        note(String(format: "bench kafka: produced %d records in %.1f s to %d partitions per topic", count, monotonicSeconds() - t0, partitions))

        let scratch = try BenchScratch("kafka")
        defer { scratch.remove() }
        let work = scratch.dir, pg = scratch.pg
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        var rows: [(kcat: Double, ours: Double)] = []
        let cores = ProcessInfo.processInfo.activeProcessorCount
        for round in 1...rounds {
            // The peer: kcat in a consumer group of its own, from the beginning to the end.
            // CPU seconds around each: the child's own, this process's (the embedded broker) and Postgres's.
            var cpu = (own: CPUTime.ownSeconds(), children: CPUTime.childrenSeconds())
            let k = try timed(kcat, ["-b", bootstrap, "-G", "bench-kcat-\(round)", "-o", "beginning", "-e", "-q", "-f", "%o\n"] + Topics.inputs)
            guard k.status == 0 else { throw RuntimeFailure("kcat failed") }
            let kcatCPU = (child: CPUTime.childrenSeconds() - cpu.children, broker: CPUTime.ownSeconds() - cpu.own)
            let url = try pg.createDatabase("bench_\(round)")
            cpu = (CPUTime.ownSeconds(), CPUTime.childrenSeconds())
            let pg0 = CPUTime.postgresSeconds(dataDir: pg.dataDir.path)
            let r = try timed(me, ["run", "--pipeline", "Pipelines/analytics.yaml", "--until-end", "--brokers", bootstrap,
                                   "--group", "bench-run-\(round)", "--postgres", url, "--data", work + "/data-\(round)",
                                   "--outputs", "kafka", "--batch", String(batch)])
            guard r.status == 0 else { throw RuntimeFailure("wakala run failed:\n\(r.stderr)") }
            let runCPU = (child: CPUTime.childrenSeconds() - cpu.children, broker: CPUTime.ownSeconds() - cpu.own,
                          postgres: pg0.flatMap { a in CPUTime.postgresSeconds(dataDir: pg.dataDir.path).map { $0 - a } })
            note(String(format: "  CPU seconds: kcat %.2f + broker %.2f; wakala run %.2f + broker %.2f + Postgres %@ (%d cores: %.1f core-seconds in the run's wall time)",
                        kcatCPU.child, kcatCPU.broker, runCPU.child, runCPU.broker, runCPU.postgres.map { String(format: "%.2f", $0) } ?? "?",
                        cores, Double(cores) * r.seconds))
            for line in r.stderr.split(separator: "\n") where line.contains("loop time") || line.contains("done after") || line.contains("not in the partition") || line.contains("partitioner: auto") { note("  " + line) }
            rows.append((k.seconds, r.seconds))
            print(String(format: "round %d: kcat %.2f s (%.0f records/s), wakala run %.2f s (%.0f records/s): %.2fx kcat's rate",
                         round, k.seconds, Double(count) / k.seconds, r.seconds, Double(count) / r.seconds, k.seconds / r.seconds))
            try? FileManager.default.removeItem(atPath: work + "/data-\(round)")
        }
        let best = rows.map { $0.kcat / $0.ours }.max() ?? 0
        print(String(format: "records: %d (%d tenants × %d days, %d partitions); best ratio %.2fx kcat's rate (target 0.8)",
                     count, tenants, days, partitions, best))
        if bytewaxProcesses > 0 { try bytewax(bootstrap: bootstrap, records: count, ours: rows.map(\.ours).min() ?? 0) }
        withExtendedLifetime(broker) {} // the cluster lives until every round is done
    }

    /// The Python peer: bytewax reading the same broker and computing the hourly rollup of
    /// order.created (count and cents per tenant and UTC hour), once from the one topic the rollup
    /// needs and once from every input topic (the records ours reads); both must find the same
    /// groups. Ours (`ours` seconds) runs every operator and sink.
    func bytewax(bootstrap: String, records: Int, ours: Double) throws {
        let script = URL(fileURLWithPath: "scripts/bench/bytewax_rollup.py").standardizedFileURL
        guard FileManager.default.fileExists(atPath: script.path) else { throw RuntimeFailure("run from the repository root (scripts/bench/bytewax_rollup.py)") }
        let version = (try? capture(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import importlib.metadata as m; print(m.version('bytewax'))"]))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let version else { throw RuntimeFailure("bytewax is not installed (pip install bytewax==0.21.1, or scripts/setup --bench); --bytewax-processes 0 skips it") }
        var groups: [String: Set<String>] = [:]
        for (label, topics) in [("orders only", ["orders"]), ("every input topic", Topics.inputs)] {
            let out = NSTemporaryDirectory() + "wakala-bench-bytewax-\(getpid()).out"
            let files = (0..<bytewaxProcesses).map { "\(out).\($0)" }
            defer { for f in files { try? FileManager.default.removeItem(atPath: f) } }
            let env = "WAKALA_BENCH_BROKERS=\(bootstrap) WAKALA_BENCH_TOPICS=\(topics.joined(separator: ",")) WAKALA_BENCH_OUT=\(out)"
            let r = try timed("/bin/sh", ["-c", "cd \(script.deletingLastPathComponent().path) && \(env) exec python3 -m bytewax.testing bytewax_rollup:flow -p \(bytewaxProcesses)"])
            guard r.status == 0 else { throw RuntimeFailure("bytewax failed:\n\(r.stderr)") }
            // `tenant|hour count cents` per group, one file per worker.
            let lines = files.flatMap { ((try? String(contentsOfFile: $0, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
            groups[label] = Set(lines)
            let read = topics.count == 1 ? "the orders topic" : "\(records) records"
            print(String(format: "bytewax %@ (%d processes), hourly rollup from %@ (%@): %.2f s, %d groups; wakala run (every operator and sink) %.2f s: %.2fx bytewax's rate",
                         version, bytewaxProcesses, label, read, r.seconds, lines.count, ours, r.seconds / ours))
        }
        guard let a = groups["orders only"], let b = groups["every input topic"], !a.isEmpty, a == b else {
            throw RuntimeFailure("bytewax found different rollups from the orders topic and from every topic")
        }
    }

    /// Runs a program to its end; its wall time, exit status and standard error.
    func timed(_ path: String, _ args: [String]) throws -> (seconds: Double, status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        let err = NSTemporaryDirectory() + "wakala-bench-err-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: err) }
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        let t0 = monotonicSeconds()
        try p.run()
        p.waitUntilExit()
        return (monotonicSeconds() - t0, p.terminationStatus, (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}

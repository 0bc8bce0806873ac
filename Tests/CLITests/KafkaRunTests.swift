import Domain
import Foundation
import Ingest
import Sinks
import Testing
import TestSupport
import Postgres

/// `wakala run` (CONTRACT §3.1, §4): the pipeline from Kafka. A client we did not write
/// (confluent-kafka) produces a generated stream; the run's read models, Parquet tables, derived
/// events and dead letters equal those of `wakala replay --sinks` over the same records.
@Suite(.serialized) struct KafkaRunTests {
    static let kcat = URL(fileURLWithPath: "/usr/bin/kcat")

    /// An embedded cluster with the contract's topics and the default pipeline's internal topic.
    static func broker(partitions: Int) throws -> EmbeddedBroker {
        try EmbeddedBroker(partitions: partitions, topics: Topics.inputs + Topics.outputs + Topics.defaultInternal)
    }

    /// `run` without `--until-end`, serving /metrics on a free port (checkpoints every 500 ms),
    /// standard error to `log`: the process, a reader of its log, and the port once it said it
    /// (nil if it did not within 60 s). The caller stops the process.
    static func liveRun(_ args: [String], log: String) throws -> (Process, () -> String, Int?) {
        let p = Process()
        p.executableURL = try wakalaBinary()
        p.arguments = args.filter { $0 != "--until-end" } + ["--metrics-port", "0", "--checkpoint-interval", "500ms"]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let logText = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        var port: Int?
        _ = KafkaScaleOutTests.waitUntil("the metrics port", timeout: 60) {
            port = logText().components(separatedBy: "metrics on http://127.0.0.1:").dropFirst().first
                .flatMap { Int($0.prefix { $0.isNumber }) }
            return port != nil || !p.isRunning
        }
        return (p, logText, port)
    }

    /// Produces `input` with confluent-kafka (murmur2 partitioning, keyed as CONTRACT §1).
    static func produce(_ bootstrap: String, _ input: String, extra: [String] = []) throws -> Int {
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/kafka_produce.py", bootstrap, input] + extra,
                               timeout: 600)
        #expect(r.status == 0, "kafka_produce.py: \(r.stdout) \(r.stderr)")
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return doc?["produced"] as? Int ?? -1
    }

    /// Every input partition still starts at offset 0 (the mock cluster dropped nothing) and the
    /// partitions hold `expected` records in all.
    static func checkNothingDropped(_ bootstrap: String, partitions: Int, expected: Int) throws {
        let probe = try KafkaConsumer(brokers: bootstrap, group: "probe-\(UUID().uuidString)")
        var total: Int64 = 0
        for t in Topics.inputs {
            for p in 0..<partitions {
                let w = try probe.watermarks(TopicPartition(t, p))
                #expect(w.low == 0, "\(t)[\(p)] lost its first \(w.low) records to the mock cluster's retention")
                total += w.high
            }
        }
        #expect(total == Int64(expected))
    }

    /// Dead letters of a run's `dlq/` part files as (reason, record) pairs, sorted: where they came
    /// from (a file line or a topic partition offset) differs between replay and run.
    static func deadLetters(_ dir: String) throws -> [[String]] {
        let d = dir + "/dlq"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: d) else { return [] }
        var out: [[String]] = []
        for f in names where f.hasPrefix("part-") {
            for line in try String(contentsOfFile: d + "/" + f, encoding: .utf8).split(separator: "\n") {
                let doc = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                out.append([doc["reason"] as? String ?? "?", (doc["record"] as? String) ?? (doc["record_base64"] as? String) ?? "?"])
            }
        }
        return out.sorted { $0.lexicographicallyPrecedes($1) }
    }

    static func runArgs(_ bootstrap: String, _ url: String, _ dir: String, group: String, outputs: String = "files") -> [String] {
        ["run", "--pipeline", "Pipelines/analytics.yaml", "--until-end", "--brokers", bootstrap, "--group", group,
         "--postgres", url, "--data", dir, "--outputs", outputs]
    }

    /// A copy of the default pipeline in `work` with one setting changed (`from` must occur in it).
    static func pipelineVariant(_ work: String, _ from: String, _ to: String) throws -> String {
        let path = work + "/pipeline-variant.yaml"
        let yaml = try String(contentsOfFile: "Pipelines/analytics.yaml", encoding: .utf8)
        try #require(yaml.contains(from))
        try yaml.replacingOccurrences(of: from, with: to).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `runArgs` with another pipeline file.
    static func runArgs(_ bootstrap: String, _ url: String, _ dir: String, group: String, outputs: String = "files", pipeline: String) -> [String] {
        runArgs(bootstrap, url, dir, group: group, outputs: outputs).map { $0 == "Pipelines/analytics.yaml" ? pipeline : $0 }
    }

    /// Read models, Parquet tables and derived-event ids of two runs are equal, and not trivially.
    static func expectSameResults(_ urlA: String, _ dirA: String, _ urlB: String, _ dirB: String) throws {
        let modelsA = try ExactlyOnceTests.readModels(urlA), modelsB = try ExactlyOnceTests.readModels(urlB)
        for t in ExactlyOnceTests.readModelTables {
            let ra = modelsA[t]!, rb = modelsB[t]!
            let first = zip(ra, rb).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "counts \(ra.count) vs \(rb.count)"
            #expect(ra == rb, "read model \(t) differs: \(first)")
        }
        #expect(modelsA["orders"]!.count > 50 && modelsA["deliveries"]!.count > 50 && modelsA["rollup_hourly"]!.count > 50)
        let sa = try ExactlyOnceTests.sinkState(dirA), sb = try ExactlyOnceTests.sinkState(dirB)
        #expect((sa["tables"] as? NSDictionary) == (sb["tables"] as? NSDictionary), "Parquet tables differ")
        #expect(((sa["tables"] as? [String: [String: Any]])?["events"]?["rows"] as? Int ?? 0) > 10_000)
        let da = sa["derived"] as? [String: Any], db = sb["derived"] as? [String: Any]
        #expect((da as NSDictionary?) == (db as NSDictionary?), "derived-event ids differ")
        #expect(db?["count"] as? Int == db?["distinct"] as? Int)
        #expect((db?["count"] as? Int ?? 0) > 1_000)
    }

    /// A generated one-day stream, the reference (`replay --sinks` of the file into `urlA`,
    /// `dirA`) and an embedded cluster of `partitions` partitions per topic — holding the stream
    /// (nothing dropped) unless `produce` is false. Its folder goes with ``remove()``.
    final class Fixture {
        let work: String, input: String, lines: Int, urlA: String, dirA: String
        let broker: EmbeddedBroker
        var bootstrap: String { broker.bootstrapServers }

        init(_ name: String, seed: Int, tenants: Int, partitions: Int, produce: Bool = true) throws {
            (work, input) = try ExactlyOnceTests.scratch(name, seed: seed, tenants: tenants, extra: ["--duplicates", "0.01", "--malformed", "0.001"])
            lines = try Data(contentsOf: URL(fileURLWithPath: input)).split(separator: 0x0A).count
            urlA = try TestDatabase.fresh(name + "_a")
            dirA = work + "/a"
            let a = try runProcess(try wakalaBinary(), ExactlyOnceTests.replayArgs(input, urlA, dirA), timeout: 900)
            #expect(a.status == 0, "\(a.stderr)")
            broker = try KafkaRunTests.broker(partitions: partitions)
            if produce {
                #expect(try KafkaRunTests.produce(broker.bootstrapServers, input) == lines)
                try KafkaRunTests.checkNothingDropped(broker.bootstrapServers, partitions: partitions, expected: lines)
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: work) }
    }

    @Test func runUntilEndEqualsReplayWithSinks() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.kcat.path), "kcat is not installed (apt-get install kcat)")
        let partitions = 8
        let f = try Fixture("run", seed: 21, tenants: 6, partitions: partitions)
        defer { f.remove() }
        let (work, urlA, dirA, broker) = (f.work, f.urlA, f.dirA, f.broker)

        let urlB = try TestDatabase.fresh("run_b"), dirB = work + "/b"
        let b = try runProcess(try wakalaBinary(), Self.runArgs(broker.bootstrapServers, urlB, dirB, group: "g-b"), timeout: 900)
        #expect(b.status == 0, "\(b.stderr)")
        #expect(b.stderr.contains("tasks ended: 0,1,2,3,4,5,6,7"), "\(b.stderr.suffix(500))")
        try Self.expectSameResults(urlA, dirA, urlB, dirB)
        let deadA = try Self.deadLetters(dirA), deadB = try Self.deadLetters(dirB)
        #expect(!deadA.isEmpty)
        #expect(deadA == deadB, "dead letters differ: \(deadA.count) vs \(deadB.count)")

        // Each task has its checkpoint row with a position per input topic, and the group saw the
        // same offsets (what lag tools read).
        let db = try PGConnection(url: urlB)
        let rows = try db.query("SELECT partition, positions::text FROM wakala.checkpoints WHERE pipeline = 'analytics' ORDER BY partition").rows
        #expect(rows.map { $0[0] } == (0..<partitions).map { String($0) })
        let probe = try KafkaConsumer(brokers: broker.bootstrapServers, group: "g-b")
        for row in rows {
            let p = Int(row[0]!)!
            let positions = try JSONSerialization.jsonObject(with: Data(row[1]!.utf8)) as? [String: Int] ?? [:]
            let committed = try probe.committed(Topics.inputs.map { TopicPartition($0, p) })
            for t in Topics.inputs {
                let high = try probe.watermarks(TopicPartition(t, p)).high
                #expect(Int64(positions[t] ?? 0) == high, "task \(p): \(t) at \(positions[t] ?? 0), end \(high)")
                if high > 0 { #expect(committed[TopicPartition(t, p)] == high, "group offset of \(t)[\(p)]") }
            }
        }

        // Derived events and dead letters to Kafka: the same ids as the files; dead letters are the
        // original bytes with reason, detail, source, partition and offset as headers.
        let urlC = try TestDatabase.fresh("run_c"), dirC = work + "/c"
        let c = try runProcess(try wakalaBinary(), Self.runArgs(broker.bootstrapServers, urlC, dirC, group: "g-c", outputs: "kafka"),
                               timeout: 900)
        #expect(c.status == 0, "\(c.stderr)")
        var ids: [String] = []
        for t in [Topics.orderStatus, Topics.quotaAlerts, Topics.deliveryETA] {
            let r = try runProcess(Self.kcat, ["-b", broker.bootstrapServers, "-C", "-t", t, "-o", "beginning", "-e", "-q", "-f", "%s\n"], timeout: 120)
            ids += r.stdout.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["event_id"] as? String }
        }
        let fileIDs = try FileManager.default.contentsOfDirectory(atPath: dirB + "/derived").filter { $0.hasPrefix("part-") }.flatMap { f in
            try String(contentsOfFile: dirB + "/derived/" + f, encoding: .utf8).split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["event_id"] as? String
            }
        }
        #expect(ids.count == Set(ids).count)
        #expect(ids.sorted() == fileIDs.sorted())
        let dlq = try runProcess(Self.kcat, ["-b", broker.bootstrapServers, "-C", "-t", Topics.deadLetters, "-o", "beginning", "-e", "-q",
                                             "-f", "%h\u{1}%s\n"], timeout: 120)
        let dead = dlq.stdout.split(separator: "\n").map { $0.split(separator: "\u{1}", maxSplits: 1, omittingEmptySubsequences: false).map(String.init) }
        #expect(dead.count == deadB.count)
        let fromKafka = dead.compactMap { parts -> [String]? in
            guard parts.count == 2 else { return nil }
            let headers = Dictionary(parts[0].split(separator: ",").compactMap { h -> (String, String)? in
                let kv = h.split(separator: "=", maxSplits: 1).map(String.init)
                return kv.count == 2 ? (kv[0], kv[1]) : nil
            }, uniquingKeysWith: { a, _ in a })
            #expect(headers["reason"] != nil && headers["source"].map(Topics.inputs.contains) == true
                    && headers["partition"].flatMap(Int.init) != nil && headers["offset"].flatMap(Int64.init) != nil, "headers: \(parts[0])")
            return [headers["reason"] ?? "", parts[1]]
        }.sorted { $0.lexicographicallyPrecedes($1) }
        // kcat prints bytes as they are; a record that is not UTF-8 does not come back as text.
        #expect(fromKafka.count == deadB.count)
        for d in fromKafka where !d[1].contains("\u{FFFD}") {
            #expect(deadB.contains(d), "a dead letter in Kafka is not one of the file run's: \(d)")
        }
    }

    @Test func inputTopicsWithDifferentPartitionCountsAreAConfigurationError() throws {
        let broker = try EmbeddedBroker(partitions: 4, topics: Topics.inputs.filter { $0 != Topics.usage } + Topics.defaultInternal)
        defer { withExtendedLifetime(broker) {} } // the cluster lives to the end of the test
        try broker.createTopic(Topics.usage, partitions: 3)
        let url = try TestDatabase.fresh("run_copart")
        let r = try runProcess(try wakalaBinary(), Self.runArgs(broker.bootstrapServers, url, NSTemporaryDirectory() + "wakala-copart", group: "g"),
                               timeout: 120)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("usage=3") && r.stderr.contains("orders=4") && r.stderr.contains("Pipelines/analytics.yaml"), "\(r.stderr)")
    }

    /// `idle_timeout` in a live run: a partition read to its log end that gets no record for that
    /// long stops holding its task's watermark back. Every task here has input partitions that
    /// never get a record (two tenants over four partitions) beside some that do; an empty
    /// partition's watermark is the beginning of time, so without idleness no task's watermark
    /// could ever move. (The other side of the rule — a partition with unread records is never
    /// idle — is the fault test's, with the same 1 s timeout.)
    @Test func aQuietPartitionAtItsEndGoesIdleInALiveRun() throws {
        let partitions = 4
        let (work, input) = try ExactlyOnceTests.scratch("idle", seed: 63, tenants: 2, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let lines = try Data(contentsOf: URL(fileURLWithPath: input)).split(separator: 0x0A).count
        let broker = try Self.broker(partitions: partitions)
        let url = try TestDatabase.fresh("idle_live")
        // The partitioner said outright: with `auto` a run started on empty topics waits for
        // their first records before it takes tasks (its /metrics answers meanwhile).
        var pipeline = try Self.pipelineVariant(work, "idle_timeout: 60s", "idle_timeout: 1s")
        let yaml = try String(contentsOfFile: pipeline, encoding: .utf8)
        try #require(yaml.contains("    group: wakala-analytics\n"))
        try yaml.replacingOccurrences(of: "    group: wakala-analytics\n", with: "    group: wakala-analytics\n    partitioner: murmur2\n")
            .write(toFile: work + "/pipeline-idle.yaml", atomically: true, encoding: .utf8)
        pipeline = work + "/pipeline-idle.yaml"
        let (p, logText, metricsPort) = try Self.liveRun(Self.runArgs(broker.bootstrapServers, url, work + "/out", group: "idle", pipeline: pipeline),
                                                         log: work + "/run.log")
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        guard let port = metricsPort else { Issue.record("no metrics port: \(logText().suffix(800))"); return }
        func metrics() -> String { (try? HTTPReply.get("http://127.0.0.1:\(port)/metrics")).map { String(decoding: $0.body, as: UTF8.self) } ?? "" }
        /// Each task's watermark (UTC s) as /metrics shows it.
        func watermarks() -> [Int: Double] {
            var out: [Int: Double] = [:]
            for line in metrics().split(separator: "\n") where line.hasPrefix("wakala_task_watermark_seconds{task=\"") {
                let task = line.dropFirst("wakala_task_watermark_seconds{task=\"".count).prefix { $0.isNumber }
                if let t = Int(task), let v = Double(line.split(separator: " ").last ?? "") { out[t] = v }
            }
            return out
        }
        #expect(KafkaScaleOutTests.waitUntil("all \(partitions) tasks", timeout: 120) { watermarks().count == partitions || !p.isRunning })

        // The stream, then (once all of it was read) the same records again: these arrive when the
        // empty partitions have long been idle, while the others are active.
        #expect(try Self.produce(broker.bootstrapServers, input) == lines)
        #expect(KafkaScaleOutTests.waitUntil("every record read", timeout: 180) {
            DemoTests.metric(metrics(), "wakala_records_in_total") >= Double(lines) || !p.isRunning
        })
        let probe = try KafkaConsumer(brokers: broker.bootstrapServers, group: "idle-probe")
        var empty: [Int: [String]] = [:], filled: [Int: Int64] = [:]
        for t in Topics.inputs {
            for q in 0..<partitions {
                let high = try probe.watermarks(TopicPartition(t, q)).high
                if high == 0 { empty[q, default: []].append(t) } else { filled[q, default: 0] += high }
            }
        }
        // The precondition: a task with both kinds of partition.
        let mixed = (0..<partitions).filter { empty[$0] != nil && filled[$0] != nil }
        #expect(!mixed.isEmpty, "empty partitions \(empty), records \(filled)")
        #expect(try Self.produce(broker.bootstrapServers, input) == lines)
        let moved = KafkaScaleOutTests.waitUntil("every task with records past the beginning of time", timeout: 180) {
            let w = watermarks()
            return filled.keys.allSatisfy { (w[$0] ?? 0) > 0 } || !p.isRunning
        }
        #expect(moved, "watermarks: \(watermarks().sorted { $0.key < $1.key }); tasks with empty partitions \(empty), with records \(filled); log: \(logText().suffix(800))")
        #expect(p.isRunning)
        kill(p.processIdentifier, SIGTERM)
        #expect(KafkaScaleOutTests.waitUntil("the run to stop", timeout: 120) { !p.isRunning })
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "\(logText().suffix(800))")
        withExtendedLifetime(broker) {}
    }
}

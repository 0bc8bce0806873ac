import Domain
import Foundation
import TestSupport
import Ingest
import Testing

/// `wakala generate --brokers` into `wakala broker`, read back by kcat — a client we did not write.
@Suite(.serialized) struct KafkaRoundTripTests {
    @Test func kcatReadsWhatGenerateProduced() throws {
        let wakala = try wakalaBinary()
        let kcat = URL(fileURLWithPath: "/usr/bin/kcat")
        try #require(FileManager.default.isExecutableFile(atPath: kcat.path), "kcat is not installed (apt-get install kcat)")

        let broker = try Daemon(wakala, ["broker", "--partitions", "3"])
        defer { broker.stop() }
        let bootstrap = try broker.waitForLine(prefix: "bootstrap:")
        #expect(bootstrap.hasPrefix("127.0.0.1:") || bootstrap.hasPrefix("localhost:"))

        let args = ["--seed", "5", "--tenants", "3", "--days", "1", "--orders-per-day", "8"]
        let gen = try runProcess(wakala, ["generate"] + args + ["--brokers", bootstrap])
        #expect(gen.status == 0, "\(gen.stderr)")

        // The same stream in-process tells what each topic must hold.
        var config = GeneratorConfig()
        config.seed = 5
        config.tenants = 3
        config.days = 1
        config.ordersPerDay = 8
        var generator = StreamGenerator(config)
        let expected = Dictionary(grouping: generator.generateAll(), by: \.topic)
        #expect(Set(expected.keys) == Set(Topics.inputs))

        for topic in Topics.inputs {
            let read = try runProcess(kcat, ["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                                             "-f", "%k\t%p\t%s\n"], timeout: 60)
            #expect(read.status == 0, "\(read.stderr)")
            let rows = read.stdout.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: "\t", maxSplits: 2).map(String.init) }
            let want = expected[topic]!.map { [$0.key, String(decoding: $0.value, as: UTF8.self)] }.sorted { $0.lexicographicallyPrecedes($1) }
            let got = rows.map { [$0[0], $0[2]] }.sorted { $0.lexicographicallyPrecedes($1) }
            #expect(got.count == want.count, "\(topic): \(got.count) records, expected \(want.count)")
            #expect(got == want, "\(topic): records differ")
            // Keyed: every record of a key is on one partition.
            var partitionOf: [String: String] = [:]
            for r in rows {
                if let p = partitionOf[r[0]] { #expect(p == r[1], "\(topic): key \(r[0]) on two partitions") }
                // The in-process exchange's partitioner agrees with librdkafka's murmur2.
                #expect(String(KafkaPartitioner.partition(r[0], count: 3)) == r[1], "\(topic): key \(r[0])")
                partitionOf[r[0]] = r[1]
            }
            if topic == Topics.driverLocations {
                #expect(rows.allSatisfy { $0[0].hasPrefix("d-") }, "driver-locations must be keyed by driver_id")
            } else {
                #expect(rows.allSatisfy { $0[0].hasPrefix("t-") }, "\(topic) must be keyed by tenant_id")
            }
        }
    }

    @Test func embeddedBrokerPerTest() throws {
        // Two clusters side by side: each test can have its own.
        let a = try EmbeddedBroker(partitions: 2)
        let b = try EmbeddedBroker(partitions: 2)
        #expect(a.bootstrapServers != b.bootstrapServers)
        let producer = try KafkaProducer(brokers: a.bootstrapServers)
        for i in 0..<100 { try producer.produce(topic: Topics.orders, key: "t-\(i % 5)", value: Array("{\"n\":\(i)}".utf8)) }
        try producer.flush()
        #expect(producer.delivered == 100)
    }
}

@Suite struct PipelineCommandTests {
    @Test func validateReportsLineAndColumnAndExits2() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-validate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml").path
        try "pipeline: bad\nsources:\n  - name: s\n    type: file\noperators:\n  - name: d\n    type: dedupe\n    input: s\n    ttl: forever\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runProcess(try wakalaBinary(), ["validate", file])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(file):9:10: operators[0].ttl: expected a duration"))
        let ok = try runProcess(try wakalaBinary(), ["validate", "Pipelines/analytics.yaml"])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    /// Six problems of different kinds in one file (issue 29, 3): every one reported in one run,
    /// in file order — the schema's (a misspelt key, an operator type, an enumerated value, a
    /// duration) and the references' (a name declared below, a misspelt name) together, each
    /// misspelling with its nearest allowed word; several files and standard input in one call.
    @Test func validateReportsEveryProblemInOneRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-validate6-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("six.yaml").path
        try """
            pipeline: six
            sources:
              - name: events
                type: kafka
                brokers: 127.0.0.1:9092
                partitioner: murmur
                topics: [orders]
            operators:
              - name: dedupe
                type: dedupe
                input: events
                tll: 24h
              - name: per_hour
                type: window_agregate
                input: dedupe
                key: tenant_id
                window: {type: tumbling, size: 1h}
              - name: early
                type: dedupe
                input: later
              - name: later
                type: dedupe
                input: dedupe
                ttl: 3 days
              - name: typo
                type: dedupe
                input: dedpue
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runProcess(try wakalaBinary(), ["validate", file, "Pipelines/analytics.yaml"])
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix(file + ":") && $0.dropFirst(file.count + 1).first?.isNumber == true }.map(String.init)
        let expected: [(String, String)] = [
            (":6:", "did you mean 'murmur2'?"),
            (":12:", "unknown key (did you mean 'ttl'?)"),
            (":14:", "unknown type 'window_agregate' (did you mean 'window_aggregate'?)"),
            (":20:", "'later' is declared below (line 21)"),
            (":24:", "expected a duration"),
            (":27:", "'dedpue' is not a source or an operator declared above (did you mean 'dedupe'?)"),
        ]
        #expect(lines.count == 6, "\(r.stderr)")
        for (i, (at, says)) in expected.enumerated() where i < lines.count {
            #expect(lines[i].hasPrefix(file + at) && lines[i].contains(says), "problem \(i + 1): \(lines[i])")
        }
        #expect(r.stderr.contains("six.yaml: 6 problems") && r.stdout.contains("Pipelines/analytics.yaml: ok"), "\(r.stdout)\(r.stderr)")

        // Standard input.
        let p = Process()
        p.executableURL = try wakalaBinary()
        p.arguments = ["validate", "-"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        try p.run()
        input.fileHandleForWriting.write(try Data(contentsOf: URL(fileURLWithPath: "Pipelines/analytics.yaml")))
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("<stdin>: ok — pipeline analytics"))
    }

    @Test func graphPrintsTheDefaultTopology() throws {
        let r = try runProcess(try wakalaBinary(), ["graph", "Pipelines/analytics.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("Pipeline analytics (Pipelines/analytics.yaml)"))
        #expect(r.stdout.contains("Processor: deliveries_by_driver [repartition"))
        let dot = try runProcess(try wakalaBinary(), ["graph", "Pipelines/analytics.yaml", "--format", "dot"])
        #expect(dot.stdout.contains("\"dedupe\" -> \"orders\";"))
    }
}

@Suite struct ReplayAndScenarioCommandTests {
    @Test func testCommandRunsTheProjectScenarios() throws {
        let r = try runProcess(try wakalaBinary(), ["test", "Tests/Scenarios"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("3 passed, 0 failed") || r.stdout.range(of: #"\d+ passed, 0 failed"#, options: .regularExpression) != nil)
    }

    @Test func replayWritesRowsAndDeadLetters() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.ndjson.zst").path
        let gen = try runProcess(try wakalaBinary(), ["generate", "--seed", "3", "--tenants", "3", "--orders-per-day", "10",
                                                      "--duplicates", "0.05", "--malformed", "0.01", "--out", input])
        #expect(gen.status == 0, "\(gen.stderr)")
        let out = dir.appendingPathComponent("out").path
        let r = try runProcess(try wakalaBinary(), ["replay", "--pipeline", "Pipelines/examples/orders-per-hour.yaml", "--input", input, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("replayed "))
        let daily = try String(contentsOfFile: out + "/orders_daily.ndjson", encoding: .utf8).split(separator: "\n")
        #expect(daily.count == 3) // three tenants, one day each
        let dead = try String(contentsOfFile: out + "/dlq/dead-letters.ndjson", encoding: .utf8).split(separator: "\n")
        #expect(!dead.isEmpty)
        #expect(dead.allSatisfy { $0.hasPrefix("{\"reason\":\"") && $0.contains("\"offset\":") })
        // The default pipeline runs over a file too (its Kafka source is replaced by the file).
        let all = dir.appendingPathComponent("all").path
        let a = try runProcess(try wakalaBinary(), ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", input, "--out", all])
        #expect(a.status == 0, "\(a.stderr)")
        let rollups = try String(contentsOfFile: all + "/rollups.ndjson", encoding: .utf8)
        #expect(rollups.contains("\"table\":\"rollup_daily\""))
        #expect(rollups.contains("\"table\":\"rollup_payments\""))
    }
}

/// CONTRACT §2.5 cross-checked by a tool we did not write: every rollup row (sales hourly and daily,
/// products, payments by gateway/method, deliveries, messages) of a
/// 7-day, 20-tenant stream with disorder and duplicates, replayed by `wakala replay`, equals DuckDB
/// SQL over the raw NDJSON (deduplicated, cohort by created time in the tenant's timezone).
@Suite struct RollupCrossCheckTests {
    @Test func rollupsEqualDuckDB() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-xcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("week.ndjson").path
        let gen = try runProcess(try wakalaBinary(), ["generate", "--seed", "7", "--tenants", "20", "--days", "7",
                                                      "--disorder", "20s", "--duplicates", "0.01", "--out", input], timeout: 600)
        #expect(gen.status == 0, "\(gen.stderr)")
        let out = dir.appendingPathComponent("out").path
        let replay = try runProcess(try wakalaBinary(), ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", input, "--out", out], timeout: 900)
        #expect(replay.status == 0, "\(replay.stderr)")
        let check = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/rollup_crosscheck.py", input, out + "/rollups.ndjson"], timeout: 300)
        #expect(check.status == 0, "\(check.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any]
        #expect((result?["buckets"] as? Int ?? 0) > 10_000)
        #expect(result?["count"] as? Int == 0, "\(check.stdout)")
    }
}

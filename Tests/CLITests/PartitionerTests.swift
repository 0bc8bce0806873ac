import Domain
import Foundation
import Ingest
import Sinks
import Testing
import TestSupport
import Postgres

/// Issue 28, first step: which partitioner placed the records is checked, never assumed. A stream
/// produced with librdkafka's default (CRC-32, as confluent-kafka places keys unless told
/// otherwise) gives the file run's results when the source says `partitioner: crc32` (the
/// repartition places deliveries by driver the same way); with the default it is reported —
/// every topic named with the fix, counted in `wakala_misrouted_records_total` — not silent.
@Suite(.serialized) struct PartitionerTests {
    /// Producers that disagree: orders placed by murmur2 (Java's default), every other topic by
    /// CRC-32 (librdkafka's) — for kafka_produce.py.
    static let disagreeing = ["--partitioner", "orders=murmur2_random,default=consistent_random"]

    /// A fixture whose stream was produced by disagreeing producers, `keyless`'s records without a
    /// key, every record held by the cluster.
    static func producedDisagreeing(_ name: String, seed: Int, tenants: Int, partitions: Int, keyless: String) throws -> KafkaRunTests.Fixture {
        let f = try KafkaRunTests.Fixture(name, seed: seed, tenants: tenants, partitions: partitions, produce: false)
        #expect(try KafkaRunTests.produce(f.bootstrap, f.input, extra: disagreeing + ["--keyless", keyless]) == f.lines)
        try KafkaRunTests.checkNothingDropped(f.bootstrap, partitions: partitions, expected: f.lines)
        return f
    }

    @Test func crc32IsTheStandardOne() {
        // The check value of CRC-32/ISO-HDLC (zlib's, librdkafka's rd_crc32).
        var s = "123456789"
        #expect(s.withUTF8 { KafkaPartitioner.crc32(UnsafeRawBufferPointer($0)) } == 0xCBF4_3926)
        // zlib.crc32 in Python: t-0001 → 1123561017 (partition 9 of 12), t-0002 → 3690037123 (7).
        for (key, crc, partition) in [("t-0001", UInt32(1_123_561_017), 9), ("t-0002", UInt32(3_690_037_123), 7)] {
            var k = key
            #expect(k.withUTF8 { KafkaPartitioner.crc32(UnsafeRawBufferPointer($0)) } == crc)
            #expect(Partitioner.crc32.partition(key, count: 12) == partition)
        }
        #expect(Partitioner.murmur2.partition("t-0001", count: 12) == KafkaPartitioner.partition("t-0001", count: 12))
        for n in [1, 2, 7, 12] { #expect((0..<n).contains(Partitioner.crc32.partition("driver-\(n)", count: n))) }
    }

    @Test func librdkafkasDefaultWithPartitionerCrc32EqualsTheFileRun() throws {
        let partitions = 12
        let f = try KafkaRunTests.Fixture("crc32", seed: 28, tenants: 5, partitions: partitions, produce: false)
        defer { f.remove() }
        #expect(try KafkaRunTests.produce(f.bootstrap, f.input, extra: ["--partitioner", "consistent_random"]) == f.lines)
        try KafkaRunTests.checkNothingDropped(f.bootstrap, partitions: partitions, expected: f.lines)

        // Told murmur2 (the Java default): every topic reported with the fix; the run says so.
        let murmur = try KafkaRunTests.pipelineVariant(f.work, "    group: wakala-analytics\n", "    group: wakala-analytics\n    partitioner: murmur2\n")
        let urlA = try TestDatabase.fresh("crc32_told_murmur2")
        let a = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, urlA, f.work + "/murmur2", group: "g-murmur2", pipeline: murmur), timeout: 900)
        #expect(a.status == 0, "\(a.stderr.suffix(800))")
        for topic in ["orders", "payments", "deliveries", "driver-locations", "tenants"] {
            #expect(a.stderr.contains("topic \(topic): record") && a.stderr.contains("it was placed by crc32"), "\(topic): \(a.stderr.suffix(1500))")
        }
        #expect(a.stderr.contains("set `partitioner: crc32` on the pipeline's kafka source"))
        #expect(a.stderr.contains("input records were not in the partition their key maps to"))

        // The default (auto): decided crc32 from the records, recorded, and the same results as
        // `replay --sinks` of the file, nothing reported.
        let urlB = try TestDatabase.fresh("crc32_auto"), dirB = f.work + "/auto"
        let b = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, urlB, dirB, group: "g-auto"), timeout: 900)
        #expect(b.status == 0, "\(b.stderr.suffix(800))")
        #expect(b.stderr.contains("partitioner: auto — the input topics' keys are placed by crc32"), "\(b.stderr.prefix(1500))")
        #expect(!b.stderr.contains("it was placed by") && !b.stderr.contains("not in the partition"), "\(b.stderr.suffix(800))")
        try KafkaRunTests.expectSameResults(f.urlA, f.dirA, urlB, dirB)
        let db = try PGConnection(url: urlB)
        #expect(try db.query("SELECT partitioner FROM wakala.source_partitioners WHERE pipeline = 'analytics'").rows.first?[0] == "crc32")
        // partitioner: crc32, said outright: the same.
        let crc = try KafkaRunTests.pipelineVariant(f.work, "    group: wakala-analytics\n", "    group: wakala-analytics\n    partitioner: crc32\n")
        let urlC = try TestDatabase.fresh("crc32_set"), dirC = f.work + "/crc32"
        let c = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, urlC, dirC, group: "g-crc32", pipeline: crc), timeout: 900)
        #expect(c.status == 0 && !c.stderr.contains("it was placed by"), "\(c.stderr.suffix(800))")
        try KafkaRunTests.expectSameResults(f.urlA, f.dirA, urlC, dirC)
    }

    /// One topic placed otherwise (orders by murmur2, the rest by CRC-32; the default `auto` takes
    /// the majority, crc32) and one without keys (usage): the metrics count that topic's records as
    /// misplaced and forwarded, the keyless ones as forwarded only, on /metrics; the warning names
    /// the misplaced topic alone.
    @Test func aMisplacedTopicIsCountedAndNamed() throws {
        let partitions = 4
        let f = try Self.producedDisagreeing("mixed", seed: 29, tenants: 3, partitions: partitions, keyless: "usage")
        defer { f.remove() }
        let url = try TestDatabase.fresh("mixed")
        let (p, logText, port) = try KafkaRunTests.liveRun(KafkaRunTests.runArgs(f.bootstrap, url, f.work + "/out", group: "g-mixed"),
                                                           log: f.work + "/run.log")
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let metricsPort = try #require(port, "no metrics port: \(logText().suffix(800))")
        func metrics() -> String { (try? HTTPReply.get("http://127.0.0.1:\(metricsPort)/metrics")).map { String(decoding: $0.body, as: UTF8.self) } ?? "" }
        func misrouted(_ topic: String) -> Double { DemoTests.metric(metrics(), "wakala_misrouted_records_total{topic=\"\(topic)\"}") }
        #expect(KafkaScaleOutTests.waitUntil("orders counted as misplaced", timeout: 120) { misrouted("orders") > 0 || !p.isRunning })
        #expect(KafkaScaleOutTests.waitUntil("every record read", timeout: 300) {
            DemoTests.metric(metrics(), "wakala_records_in_total") >= Double(f.lines) || !p.isRunning
        })
        // Only orders: the other topics were placed as the source says.
        let m = metrics()
        #expect(misrouted("orders") > 0 && misrouted("payments") == 0 && misrouted("driver-locations") == 0 && misrouted("usage") == 0,
                "\(m.split(separator: "\n").filter { $0.contains("misrouted") })")
        func forwarded(_ topic: String, _ reason: String) -> Double {
            DemoTests.metric(m, "wakala_forwarded_records_total{reason=\"\(reason)\",topic=\"\(topic)\"}")
                + DemoTests.metric(m, "wakala_forwarded_records_total{topic=\"\(topic)\",reason=\"\(reason)\"}")
        }
        // Every misplaced orders record was forwarded; of the keyless usage records, those read by
        // a task that does not own their tenant (about 3 in 4 over 4 partitions).
        #expect(forwarded("orders", "misplaced") == misrouted("orders"), "\(m.split(separator: "\n").filter { $0.contains("forwarded") })")
        #expect(forwarded("usage", "keyless") > 0 && forwarded("payments", "keyless") == 0 && forwarded("payments", "misplaced") == 0,
                "\(m.split(separator: "\n").filter { $0.contains("forwarded") })")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let text = logText()
        #expect(text.contains("partitioner: auto — the input topics' keys are placed by crc32"), "\(text.prefix(1500))")
        #expect(text.contains("topic orders: record") && text.contains("it was placed by murmur2"), "\(text.suffix(1500))")
        #expect(text.components(separatedBy: "topic orders: record").count == 2, "said once per topic")
        #expect(!text.contains("topic payments: record") && !text.contains("topic usage: record"))
    }

    /// Producers that disagree (orders placed by murmur2, the rest by CRC-32) and payments sent
    /// without a key, on 12 partitions: `auto` takes the majority (crc32); each misplaced orders
    /// record and each keyless payment read by a task that does not own its tenant is forwarded
    /// to the one that does, and the run equals `replay --sinks` of the file — read models,
    /// Parquet tables, derived-event ids and dead letters.
    @Test func disagreeingProducersAndKeylessRecordsGiveTheFileRunsResults() throws {
        let partitions = 12
        let f = try Self.producedDisagreeing("disagree", seed: 281, tenants: 5, partitions: partitions, keyless: "payments")
        defer { f.remove() }
        let url = try TestDatabase.fresh("disagree"), dir = f.work + "/run"
        let r = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, url, dir, group: "g-disagree"), timeout: 900)
        #expect(r.status == 0, "\(r.stderr.suffix(800))")
        #expect(r.stderr.contains("partitioner: auto — the input topics' keys are placed by crc32"), "\(r.stderr.prefix(1500))")
        #expect(r.stderr.contains("topic orders: record") && r.stderr.contains("forwarded to the task that owns their key"), "\(r.stderr.suffix(1500))")
        #expect(!r.stderr.contains("topic payments: record"), "keyless records are not misplaced")
        try KafkaRunTests.expectSameResults(f.urlA, f.dirA, url, dir)
        #expect(try KafkaRunTests.deadLetters(f.dirA) == KafkaRunTests.deadLetters(dir))
    }
}

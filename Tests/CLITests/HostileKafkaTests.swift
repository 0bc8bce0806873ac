import Foundation
import Ingest
import Testing
import TestSupport

/// Hostile records in Kafka (issue 27, points 3–5): a 1.1 MB record, a far-future event and
/// garbage on a known partition, produced (with confluent-kafka) ahead of a generated stream.
/// `run --until-end` ends (exit 0) with the read models of a run without them, and each is in
/// `wakala.dlq` once, unchanged, with its reason and its true Kafka partition and offset. Then
/// producers that refuse records over 1,000,000 bytes (as a broker's default would): the oversized
/// dead letter is written cut, with `truncated`, `original_bytes` and `sha256` headers.
@Suite(.serialized) struct HostileKafkaTests {
    struct Produced: Decodable { var name: String; var topic: String; var partition: Int; var offset: Int; var bytes: Int; var sha256: String; var cut_sha256: String }
    struct Read: Decodable { var partition: Int; var offset: Int; var bytes: Int; var sha256: String; var headers: [String: String]; var text: String? }

    static func hostile(_ args: [String]) throws -> Data {
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/kafka_hostile.py"] + args, timeout: 300)
        try #require(r.status == 0, "kafka_hostile.py \(args.first ?? ""): \(r.stdout) \(r.stderr)")
        return Data(r.stdout.utf8)
    }

    @Test func hostileRecordsAreDeadLetteredOnceAndTheRunEqualsOneWithoutThem() throws {
        let partitions = 4
        let f = try KafkaRunTests.Fixture("hostile", seed: 27, tenants: 3, partitions: partitions, produce: false)
        defer { f.remove() }
        let produced = try JSONDecoder().decode([Produced].self, from: try Self.hostile(["produce", f.bootstrap]))
        #expect(produced.map(\.offset) == [0, 0, 0], "the hostile records come first in their partitions")
        #expect(try KafkaRunTests.produce(f.bootstrap, f.input) == f.lines)
        try KafkaRunTests.checkNothingDropped(f.bootstrap, partitions: partitions, expected: f.lines + produced.count)

        let urlB = try TestDatabase.fresh("hostile_b"), dirB = f.work + "/b"
        let b = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, urlB, dirB, group: "g-hostile", outputs: "kafka"), timeout: 900)
        #expect(b.status == 0, "\(b.stderr.suffix(1500))")
        #expect(!b.stderr.contains("retrying"), "nothing is retried: \(b.stderr.suffix(1500))")
        // The read models and Parquet tables of the replay of the stream alone.
        let modelsA = try ExactlyOnceTests.readModels(f.urlA), modelsB = try ExactlyOnceTests.readModels(urlB)
        for t in ExactlyOnceTests.readModelTables {
            #expect(modelsA[t]! == modelsB[t]!, "read model \(t) differs: \(modelsA[t]!.count) vs \(modelsB[t]!.count) rows")
        }
        #expect(modelsB["orders"]!.count > 20 && !modelsB["orders"]!.contains { $0.contains("o-hostile-big") || $0.contains("o-hostile-future") })
        let sa = try ExactlyOnceTests.sinkState(f.dirA), sb = try ExactlyOnceTests.sinkState(dirB)
        #expect((sa["tables"] as? NSDictionary) == (sb["tables"] as? NSDictionary), "Parquet tables differ")

        let expected: [String: (reason: String, topic: String)] = [
            "oversized": ("too_large", "orders"), "far_future": ("future_timestamp", "orders"), "garbage": ("invalid_json", "tenants"),
        ]
        var dlq = try JSONDecoder().decode([Read].self, from: try Self.hostile(["read", f.bootstrap, "wakala.dlq"]))
        for p in produced {
            let copies = dlq.filter { $0.headers["source"] == p.topic && $0.headers["partition"] == String(p.partition) && $0.headers["offset"] == String(p.offset) }
            #expect(copies.count == 1, "\(p.name): \(copies.count) dead letters")
            guard let d = copies.first else { continue }
            #expect(d.headers["reason"] == expected[p.name]!.reason, "\(p.name): \(d.headers)")
            #expect(d.sha256 == p.sha256 && d.bytes == p.bytes, "\(p.name): the dead letter is not the record unchanged")
            #expect(d.headers["truncated"] == nil)
        }
        let future = dlq.first { $0.headers["reason"] == "future_timestamp" }
        #expect(future?.headers["detail"]?.contains("Kafka timestamp") == true, "\(future?.headers ?? [:])")

        // Producers that refuse a record over 1,000,000 bytes: the oversized dead letter is cut.
        let urlC = try TestDatabase.fresh("hostile_c"), dirC = f.work + "/c"
        let ordersOnly = try KafkaRunTests.pipelineVariant(f.work, "topics: [whatsapp.inbound, orders, payments, deliveries, driver-locations, usage, tenants]", "topics: [orders]")
        let c = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, urlC, dirC, group: "g-hostile-cut", outputs: "kafka", pipeline: ordersOnly),
                               timeout: 900, environment: ProcessInfo.processInfo.environment.merging(["WAKALA_KAFKA_PRODUCER_SETTINGS": "message.max.bytes=1000000"]) { $1 })
        #expect(c.status == 0, "\(c.stderr.suffix(1500))")
        #expect(c.stderr.contains("error") && c.stderr.contains("truncated=true"), "the cut is logged at error: \(c.stderr.suffix(1500))")
        dlq = try JSONDecoder().decode([Read].self, from: try Self.hostile(["read", f.bootstrap, "wakala.dlq"]))
        let big = try #require(produced.first { $0.name == "oversized" })
        let cut = dlq.filter { $0.headers["offset"] == "0" && $0.headers["partition"] == String(big.partition) && $0.headers["truncated"] == "true" }
        #expect(cut.count == 1, "\(cut.count) cut dead letters")
        if let d = cut.first {
            #expect(d.headers["reason"] == "too_large" && d.headers["source"] == "orders")
            #expect(d.headers["original_bytes"] == String(big.bytes) && d.headers["sha256"] == big.sha256, "\(d.headers)")
            #expect(d.bytes == 983_616 && d.sha256 == big.cut_sha256, "the cut value is the record's head")
        }
    }
}

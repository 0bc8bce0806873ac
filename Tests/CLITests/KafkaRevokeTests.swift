import Domain
import Foundation
@testable import Engine
@testable import Ingest
import Operators
import Sinks
import Testing
import TestSupport
import Postgres

/// A revocation can arrive in the middle of a poll (librdkafka serves rebalance callbacks inside
/// `rd_kafka_consumer_poll`, between messages): what the poll already gave the task must be in
/// the checkpoint it writes as it goes, or the next owner, starting at that checkpoint's
/// positions, would skip those records.
@Suite(.serialized) struct KafkaRevokeTests {
    @Test func recordsTakenBeforeARevocationGoIntoItsCheckpoint() throws {
        let broker = try EmbeddedBroker(partitions: 2, topics: Topics.inputs + Topics.outputs + Topics.defaultInternal)
        let url = try TestDatabase.fresh("revoke")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-revoke-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try PipelineConfig.load(path: "Pipelines/analytics.yaml")
        // Said outright: with `auto` a pipeline waits for its empty topics' first records.
        config.sources[0].params["partitioner"] = "murmur2"
        var settings = KafkaPipeline.Settings(brokers: broker.bootstrapServers, group: "revoke", postgresURL: url, dataDir: dir)
        settings.outputsToKafka = false
        let pipeline = try KafkaPipeline(config: config, settings: settings)

        // The generator's first tenant record (a tenant event: one row of wakala.tenants).
        var gen = StreamGenerator(GeneratorConfig())
        var tenantRecord: [UInt8]?
        gen.generate { r in if tenantRecord == nil, r.topic == Topics.tenants { tenantRecord = r.value } }
        let value = try #require(tenantRecord)

        // Task 0 assigned; one poll hands it the record at offset 0 of `tenants`; then the
        // revocation comes, before the poll's end would have processed it.
        let parts = (pipeline.inputs + pipeline.exchangeTopics).map { TopicPartition($0, 0) }
        _ = pipeline.assigned(parts)
        let task = try #require(pipeline.tasks[0])
        let input = try #require(pipeline.inputIndex[Topics.tenants])
        value.withUnsafeBytes { v in
            task.append(input: input, ConsumedRecord(topic: Topics.tenants, partition: 0, offset: 0,
                                                     key: UnsafeRawBufferPointer(start: nil, count: 0), value: v))
        }
        pipeline.revoked(parts)
        #expect(pipeline.failure == nil, "\(String(describing: pipeline.failure))")
        #expect(pipeline.tasks[0] == nil)

        // The checkpoint says `tenants` 0 resumes after offset 0 — and its operator state has
        // taken that record (`source_offset`: the records the operators took by the cut).
        #expect(task.runner.recordsIn == 1 && task.runner.accepted == 1)
        let db = try PGConnection(url: url)
        let row = try #require(try db.query("SELECT positions::text, source_offset FROM wakala.checkpoints WHERE partition = 0").rows.first)
        let positions = row[0] ?? ""
        #expect(positions.replacingOccurrences(of: " ", with: "").contains("\"\(Topics.tenants)\":1"), "positions: \(positions)")
        #expect(row[1] == "1", "the checkpoint counts \(row[1] ?? "nil") records taken, its positions \(positions)")
        withExtendedLifetime(broker) {}
    }
}

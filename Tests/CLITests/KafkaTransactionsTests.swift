import Domain
import Foundation
@testable import Ingest
@testable import Sinks
import Testing
import TestSupport

/// A task's transaction that fails is published again once: a `read_committed` reader sees each
/// record once and the checkpoint's marker — after an abort that finished (the mock cluster
/// leaves the aborted records readable), and after one that did not, where the producer is
/// replaced by a new one with the same transactional id.
@Suite(.serialized) struct KafkaTransactionsTests {
    /// The failure before anything is written (adding the partitions), or after everything was
    /// (ending the transaction: its records and marker may stay readable on the mock cluster).
    @Test(arguments: [EmbeddedBroker.Request.addPartitionsToTxn, .endTxn], [true, false])
    func aFailedTransactionIsPublishedOnce(failing request: EmbeddedBroker.Request, abortFinishes: Bool) throws {
        let broker = try EmbeddedBroker(partitions: 2, topics: Topics.outputs + [Topics.defaultMarkers])
        var lines: [String] = []
        let eos = try KafkaTransactions(brokers: broker.bootstrapServers, pipeline: "eos-test", task: 0, markerTopic: Topics.defaultMarkers,
                                        derivedTopics: ["orders": Topics.orderStatus], deadLetterTopic: Topics.deadLetters,
                                        log: { lines.append($0); print("eos: \($0)") })
        eos.backoff = 0.01
        // Every abort counts as one that does not finish: the replacement runs whenever one fails.
        if !abortFinishes {
            eos.abort = { producer, timeout in
                try producer.abortTransaction(timeoutMs: timeout)
                throw KafkaError("the abort is taken as one that never finishes (this test's seam)")
            }
        }
        var records = (0..<40).map { i in
            KafkaTransactions.Record(topic: Topics.orderStatus, key: Array("o-\(i)".utf8), value: Array("{\"n\":\(i)}".utf8), headers: [])
        }
        try eos.place(&records)
        // The first transaction fails: the coordinator no longer knows the producer's id.
        broker.failNext(request, .invalidProducerIDMapping, count: 1)
        try eos.publish(records, checkpoint: 1)
        if !abortFinishes {
            #expect(lines.contains { $0.contains("a new transactional producer in place of one that cannot abort") }, "\(request): \(lines)")
        }
        #expect(lines.contains { $0.contains("publishing checkpoint 1 to Kafka failed") }, "\(request): \(lines)")
        #expect(try eos.lastPublished() == 1)

        // Each record once, for a read_committed reader of both partitions.
        let reader = try KafkaConsumer(brokers: broker.bootstrapServers, group: "eos-test-reader",
                                       settings: [("isolation.level", "read_committed"), ("enable.partition.eof", "true")])
        defer { reader.close() }
        try reader.assign([TopicPartition(Topics.orderStatus, 0): 0, TopicPartition(Topics.orderStatus, 1): 0])
        var ended = Set<TopicPartition>()
        reader.onEnd = { ended.insert($0) }
        var seen: [String: Int] = [:]
        let deadline = Date().addingTimeInterval(60)
        while ended.count < 2 && Date() < deadline {
            reader.poll(max: 500, timeoutMs: 200) { r in seen[String(decoding: r.value, as: UTF8.self), default: 0] += 1 }
        }
        #expect(ended.count == 2, "the reader did not reach the partitions' ends")
        #expect(seen.count == 40 && seen.values.allSatisfy { $0 == 1 }, "\(request): \(seen.filter { $0.value != 1 }), \(seen.count) values")
        withExtendedLifetime(broker) {}
    }
}

import Domain
import Foundation
import Ingest
import Testing

/// The consumer wrapper over librdkafka, on the embedded cluster.
@Suite(.serialized) struct KafkaConsumerTests {
    /// Polls until `want` records came or 30 s passed; returns their offsets in arrival order.
    static func offsets(_ consumer: KafkaConsumer, until want: Int, into seen: inout [Int64]) {
        let deadline = Date().addingTimeInterval(30)
        while seen.count < want && Date() < deadline {
            consumer.poll(max: 1000, timeoutMs: 100) { seen.append($0.offset) }
        }
    }

    /// Resuming a partition that is not paused must not move it. librdkafka 2.0.2 resumes from
    /// the offset saved when pausing, and a partition never paused still holds its assignment's
    /// start (here the logical beginning): resuming it read the partition again from offset 0 —
    /// the demo's internal topic did so at every checkpoint, and its re-read deliveries, past
    /// dedupe's TTL, reset every delivery's location in `wakala.deliveries`.
    @Test func resumingAPartitionThatIsNotPausedDoesNotReadItAgain() throws {
        let broker = try EmbeddedBroker(partitions: 1, topics: [Topics.orders])
        let producer = try KafkaProducer(brokers: broker.bootstrapServers)
        func produce(_ range: Range<Int>) throws {
            for i in range { try producer.produce(topic: Topics.orders, key: "t-1", value: Array("{\"n\":\(i)}".utf8)) }
            try producer.flush()
        }
        let consumer = try KafkaConsumer(brokers: broker.bootstrapServers, group: "resume-test")
        defer { consumer.close() }
        let tp = TopicPartition(Topics.orders, 0)
        try consumer.assign([tp: -2]) // RD_KAFKA_OFFSET_BEGINNING, as a fresh internal topic starts
        try produce(0..<50)
        var seen: [Int64] = []
        Self.offsets(consumer, until: 50, into: &seen)
        #expect(seen == Array(0..<50), "first read: \(seen)")

        // Not paused: a resume changes nothing.
        consumer.pause([tp], resume: true)
        try produce(50..<60)
        Self.offsets(consumer, until: 60, into: &seen)
        #expect(seen == Array(0..<60), "after resuming a partition that was not paused: \(seen.suffix(20))")

        // Paused and resumed: on from where it was.
        consumer.pause([tp])
        consumer.pause([tp]) // twice: still one pause
        try produce(60..<70)
        consumer.pause([tp], resume: true)
        Self.offsets(consumer, until: 70, into: &seen)
        #expect(seen == Array(0..<70), "after a pause and a resume: \(seen.suffix(20))")
        withExtendedLifetime(broker) {}
    }
}

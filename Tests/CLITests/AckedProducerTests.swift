import Domain
import Foundation
import Ingest
import Testing

/// The gateway's producer (acknowledged sends) on the embedded cluster: what it acknowledged is
/// in the topic; once closed it lets its client go at once — before an embedded broker that
/// outlives it only by moments — and refuses further calls instead of touching a freed client.
@Suite(.serialized) struct AckedProducerTests {
    @Test func sendsAreAcknowledgedAndAClosedProducerRefusesCalls() async throws {
        let broker = try EmbeddedBroker(partitions: 1, topics: [Topics.whatsappInbound])
        let producer = try AckedProducer(brokers: broker.bootstrapServers, timeoutMs: 5_000)
        #expect(producer.reachable())
        try await producer.send((0..<20).map { OutboundRecord(topic: Topics.whatsappInbound, key: "t-1", value: Array("{\"n\":\($0)}".utf8)) })
        let consumer = try KafkaConsumer(brokers: broker.bootstrapServers, group: "acked-test")
        defer { consumer.close() }
        try consumer.assign([TopicPartition(Topics.whatsappInbound, 0): -2])
        var seen: [Int64] = []
        let deadline = Date().addingTimeInterval(30)
        while seen.count < 20 && Date() < deadline { consumer.poll(max: 100, timeoutMs: 100) { seen.append($0.offset) } }
        #expect(seen == Array(0..<20))

        producer.close()
        producer.close() // twice: nothing more
        #expect(!producer.reachable())
        await #expect(throws: AckedProducer.Failed.self) {
            try await producer.send([OutboundRecord(topic: Topics.whatsappInbound, key: "t-1", value: Array("{}".utf8))])
        }
    }
}

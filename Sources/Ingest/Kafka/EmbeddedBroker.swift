import CRdKafka
import Domain

/// An in-process Kafka cluster: librdkafka's mock cluster, listening on loopback ports so any
/// Kafka client (kcat, kafka-python) can use it. For `wakala broker`, `wakala demo` and tests,
/// where each test gets a cluster of its own. It keeps about 5 MB per partition: producers that
/// race far ahead of consumers lose the oldest records, so use enough partitions.
public final class EmbeddedBroker: @unchecked Sendable {
    private let rk: OpaquePointer
    private let cluster: OpaquePointer
    /// `host:port,...` to give clients as `bootstrap.servers`.
    public let bootstrapServers: String
    /// Partitions per topic created by ``createTopic(_:partitions:)`` when not told otherwise.
    public let defaultPartitions: Int

    /// Starts a cluster of `brokers` brokers; creates `topics` (default: the contract's topics).
    public init(brokers: Int = 1, partitions: Int = 4, topics: [String] = Topics.inputs + Topics.outputs) throws {
        let conf = try makeKafkaConf([("log_level", "3")])
        rk = try makeKafkaHandle(RD_KAFKA_PRODUCER, conf)
        guard let c = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw KafkaError("could not start the embedded Kafka cluster")
        }
        cluster = c
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(c))
        defaultPartitions = partitions
        for t in topics { try createTopic(t, partitions: partitions) }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(rk)
    }

    /// Creates a topic.
    public func createTopic(_ name: String, partitions: Int? = nil) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions ?? defaultPartitions), 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("create topic \(name)", err) }
    }
}

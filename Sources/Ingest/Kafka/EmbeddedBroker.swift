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

    // MARK: faults (for tests: what a real cluster does to its clients)

    /// Kafka protocol request types whose answers ``failNext(_:_:count:)`` can replace by errors.
    public enum Request: Int16, Sendable {
        case produce = 0, fetch = 1, listOffsets = 2, metadata = 3, offsetCommit = 8, offsetFetch = 9, findCoordinator = 10,
             joinGroup = 11, heartbeat = 12, syncGroup = 14, initProducerID = 22, addPartitionsToTxn = 24, endTxn = 26
    }

    /// Errors a broker may answer with (Kafka's codes).
    public enum Failure: Int32, Sendable {
        case notLeaderForPartition = 6, requestTimedOut = 7, coordinatorNotAvailable = 15, notCoordinator = 16,
             notEnoughReplicas = 19, invalidProducerIDMapping = 49, topicAuthorizationFailed = 29
    }

    /// Brokers are numbered from 1.
    public func setDown(broker: Int = 1) { rd_kafka_mock_broker_set_down(cluster, Int32(broker)) }
    public func setUp(broker: Int = 1) { rd_kafka_mock_broker_set_up(cluster, Int32(broker)) }
    /// Adds `ms` of round-trip time to every request to `broker` (0 removes it).
    public func setRoundTrip(ms: Int, broker: Int = 1) { rd_kafka_mock_broker_set_rtt(cluster, Int32(broker), Int32(ms)) }
    /// The next `count` requests of `request` type are answered with `failure`.
    public func failNext(_ request: Request, _ failure: Failure, count: Int) {
        let errors = [rd_kafka_resp_err_t](repeating: rd_kafka_resp_err_t(rawValue: failure.rawValue), count: count)
        errors.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, request.rawValue, count, $0.baseAddress) }
    }

    /// Creates a topic.
    public func createTopic(_ name: String, partitions: Int? = nil) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions ?? defaultPartitions), 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("create topic \(name)", err) }
    }
}

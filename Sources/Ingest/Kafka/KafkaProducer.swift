import CRdKafka
import Foundation
import Lifecycle

/// A keyed Kafka producer (librdkafka): idempotent, `acks=all`, murmur2 partitioning so keys land
/// on the same partitions as with the Java clients. Not thread-safe: one owner at a time.
public final class KafkaProducer {
    private let rk: OpaquePointer
    private var topics: [String: OpaquePointer] = [:]
    private let stats: DeliveryStats

    /// Delivery outcomes, updated from librdkafka's delivery-report callback during poll/flush.
    final class DeliveryStats {
        var delivered = 0
        var failed = 0
        var firstError: String?
        /// Failures since the last ``flush(timeout:)`` looked (each flush reports its own).
        var unreported = 0
        var unreportedError: (text: String, code: Int32)?
    }

    /// Connects to `brokers` (comma-separated host:port). `settings` override the defaults.
    public init(brokers: String, settings: [(String, String)] = []) throws {
        var all: [(String, String)] = [
            ("bootstrap.servers", brokers),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("partitioner", "murmur2_random"),
            ("linger.ms", "5"),
            ("compression.type", "zstd"),
        ]
        all += settings
        all += kafkaSettings(fromEnvironment: "WAKALA_KAFKA_PRODUCER_SETTINGS")
        let conf = try makeKafkaConf(all)
        stats = DeliveryStats()
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(stats).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf) { _, msg, opaque in
            guard let opaque, let msg else { return }
            let s = Unmanaged<DeliveryStats>.fromOpaque(opaque).takeUnretainedValue()
            if msg.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                s.delivered += 1
            } else {
                s.failed += 1
                let text = String(cString: rd_kafka_err2str(msg.pointee.err))
                if s.firstError == nil { s.firstError = text }
                s.unreported += 1
                if s.unreportedError == nil { s.unreportedError = (text, msg.pointee.err.rawValue) }
            }
        }
        rk = try makeKafkaHandle(RD_KAFKA_PRODUCER, conf)
    }

    deinit {
        for (_, t) in topics { rd_kafka_topic_destroy(t) }
        rd_kafka_destroy(rk)
    }

    /// Messages acknowledged by the brokers so far.
    public var delivered: Int { stats.delivered }
    /// Messages that failed for good, and the first reason.
    public var failed: (count: Int, firstError: String?) { (stats.failed, stats.firstError) }

    private func topic(_ name: String) -> OpaquePointer {
        if let t = topics[name] { return t }
        let t = rd_kafka_topic_new(rk, name, nil)!
        topics[name] = t
        return t
    }

    /// Looks `name` up now and keeps it known: librdkafka holds a message for a topic it has no
    /// metadata for until its next topic scan (once a second), so the first record of a new topic
    /// would otherwise wait up to a second — in a transaction's commit, for instance.
    public func learn(topic name: String) throws {
        _ = topic(name)
        _ = try partitionCount(name)
    }

    /// Queues one message; waits (polling delivery reports) while librdkafka's queue is full.
    public func produce(topic name: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        let t = topic(name)
        while true {
            let r = rd_kafka_produce(t, -1 /* RD_KAFKA_PARTITION_UA */, 0x2 /* RD_KAFKA_MSG_F_COPY */,
                                     UnsafeMutableRawPointer(mutating: value.baseAddress), value.count,
                                     key.baseAddress, key.count, nil)
            if r == 0 { break }
            let err = rd_kafka_last_error()
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw KafkaError("produce to \(name)", err) }
            rd_kafka_poll(rk, 50)
        }
        rd_kafka_poll(rk, 0)
    }

    /// Queues one message stamped with `timestamp` (UTC ms) as its create time — the record's
    /// clock for the pipeline's `max_future` rule; generated streams stamp their generated clock.
    public func produce(topic: String, key: String, value: [UInt8], timestamp: Int64) throws {
        var k = key
        try k.withUTF8 { kb in
            try value.withUnsafeBytes { vb in
                while true {
                    let err = wakala_produce_at(rk, topic, kb.baseAddress, kb.count, vb.baseAddress, vb.count, timestamp)
                    if err == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                    guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw KafkaError("produce to \(topic)", err) }
                    rd_kafka_poll(rk, 50)
                }
            }
        }
        rd_kafka_poll(rk, 0)
    }

    /// Queues one message.
    public func produce(topic: String, key: String, value: [UInt8]) throws {
        var k = key
        try k.withUTF8 { kb in
            try value.withUnsafeBytes { vb in try produce(topic: topic, key: UnsafeRawBufferPointer(kb), value: vb) }
        }
    }

    /// Queues one message to an explicit partition (or the partitioner's, when nil) with
    /// headers (name, value) — dead letters carry why and where they came from this way.
    public func produce(topic: String, partition: Int? = nil, key: [UInt8], value: UnsafeRawBufferPointer,
                        headers: [(String, [UInt8])] = []) throws {
        while true {
            var hdrs: OpaquePointer?
            if !headers.isEmpty {
                hdrs = rd_kafka_headers_new(headers.count)
                for (name, v) in headers {
                    v.withUnsafeBytes { b in _ = rd_kafka_header_add(hdrs, name, -1, b.baseAddress, b.count) }
                }
            }
            let err = key.withUnsafeBytes { k in
                wakala_produce(rk, topic, Int32(partition ?? -1), k.baseAddress, k.count, value.baseAddress, value.count, hdrs)
            }
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { break }
            if let hdrs { rd_kafka_headers_destroy(hdrs) } // not taken over on failure
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw KafkaError("produce to \(topic)", err) }
            rd_kafka_poll(rk, 50)
        }
        rd_kafka_poll(rk, 0)
    }

    /// Serves delivery reports without waiting.
    public func poll() { rd_kafka_poll(rk, 0) }

    /// Partitions of `topic`, from the cluster's metadata.
    public func partitionCount(_ topic: String, timeoutMs: Int = 10_000) throws -> Int {
        try KafkaMetadata.partitionCount(rk, topic, timeoutMs: timeoutMs)
    }

    /// The low and high (next to be written) offsets of one partition.
    public func watermarks(_ topic: String, _ partition: Int, timeoutMs: Int = 10_000) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(rk, topic, Int32(partition), &low, &high, Int32(timeoutMs))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("offsets of \(topic)[\(partition)]", err) }
        return (low, high)
    }

    /// The end offsets (next to be written) of many partitions at once: one ListOffsets request
    /// per broker (`rd_kafka_offsets_for_times` with the "latest" timestamp), not a round trip
    /// per partition.
    public func endOffsets(_ parts: Set<TopicPartition>, timeoutMs: Int = 10_000) throws -> [TopicPartition: Int64] {
        guard !parts.isEmpty else { return [:] }
        // -1 (RD_KAFKA_OFFSET_END) as the timestamp asks for the latest offset.
        return try KafkaConsumer.offsets(parts, initial: -1, what: "end offsets of \(parts.count) partitions", checkEach: true) {
            rd_kafka_offsets_for_times(rk, $0, Int32(timeoutMs))
        }
    }

    /// Creates `topic` with `partitions` partitions (replication 1 on a one-broker cluster, else
    /// the broker default); an existing topic is fine.
    public func createTopic(_ topic: String, partitions: Int, timeoutMs: Int = 15_000) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard let nt = rd_kafka_NewTopic_new(topic, Int32(partitions), -1, &err, err.count) else {
            throw KafkaError("create topic \(topic): \(cString(err))")
        }
        defer { rd_kafka_NewTopic_destroy(nt) }
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        var topics: [OpaquePointer?] = [nt]
        rd_kafka_CreateTopics(rk, &topics, 1, nil, queue)
        guard let ev = rd_kafka_queue_poll(queue, Int32(timeoutMs)) else { throw KafkaError("create topic \(topic): timed out") }
        defer { rd_kafka_event_destroy(ev) }
        if rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("create topic \(topic)", rd_kafka_event_error(ev)) }
        var n = 0
        guard let res = rd_kafka_event_CreateTopics_result(ev), let list = rd_kafka_CreateTopics_result_topics(res, &n) else { return }
        for i in 0..<n {
            let e = rd_kafka_topic_result_error(list[i])
            if e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { throw KafkaError("create topic \(topic)", e) }
        }
    }

    // MARK: transactions (a producer made with `transactional.id`)

    /// A transaction call failed: whether retrying the call can succeed, whether the transaction
    /// must be aborted first, or whether the producer is done for (fenced by a newer instance).
    public struct TransactionError: Error, CustomStringConvertible {
        public var description: String
        public var retriable: Bool
        public var requiresAbort: Bool
        public var fatal: Bool
        /// librdkafka's error code (``KafkaError/isPermanent(code:)``).
        public var code: Int32 = 0
    }

    private func check(_ what: String, _ e: OpaquePointer?) throws {
        guard let e else { return }
        defer { rd_kafka_error_destroy(e) }
        throw TransactionError(description: "\(what): \(String(cString: rd_kafka_error_string(e)))",
                               retriable: rd_kafka_error_is_retriable(e) != 0,
                               requiresAbort: rd_kafka_error_txn_requires_abort(e) != 0, fatal: rd_kafka_error_is_fatal(e) != 0,
                               code: rd_kafka_error_code(e).rawValue)
    }

    /// Registers the transactional id: fences older producers with it and aborts the
    /// transaction one of them left open.
    public func initTransactions(timeoutMs: Int = 30_000) throws {
        try check("init transactions", rd_kafka_init_transactions(rk, Int32(timeoutMs)))
    }

    public func beginTransaction() throws { try check("begin transaction", rd_kafka_begin_transaction(rk)) }

    /// Flushes and commits the open transaction.
    public func commitTransaction(timeoutMs: Int = 60_000) throws {
        try check("commit transaction", rd_kafka_commit_transaction(rk, Int32(timeoutMs)))
    }

    public func abortTransaction(timeoutMs: Int = 60_000) throws {
        try check("abort transaction", rd_kafka_abort_transaction(rk, Int32(timeoutMs)))
    }

    /// Waits until every queued message is acknowledged (or `timeout` passes); throws if any failed.
    public func flush(timeout: Duration = .seconds(30)) throws {
        let ms = Int32(timeout.components.seconds * 1000)
        // In slices, so a stop request is not kept waiting by a broker that is away.
        var left = max(1, ms)
        var err = RD_KAFKA_RESP_ERR__TIMED_OUT
        while left > 0 {
            err = rd_kafka_flush(rk, min(left, 200))
            if err != RD_KAFKA_RESP_ERR__TIMED_OUT { break }
            left -= 200
            if Shutdown.requested { break }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("flush", err) }
        if stats.unreported > 0 {
            let n = stats.unreported, first = stats.unreportedError
            stats.unreported = 0
            stats.unreportedError = nil
            throw KafkaError("\(n) messages were not delivered: \(first?.text ?? "?")", code: first?.code)
        }
    }

    /// The largest record our producers send (`message.max.bytes`): dead letters are the
    /// original records, and the consumer reads records up to librdkafka's
    /// `receive.message.max.bytes` (100 MB by default), so the producer must not refuse them
    /// first; a broker that still refuses one gets it cut (the dead-letter sinks).
    public static let maxMessageBytes = 100_000_000
}

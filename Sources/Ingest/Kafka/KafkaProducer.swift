import CRdKafka
import Foundation

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
                if s.firstError == nil { s.firstError = String(cString: rd_kafka_err2str(msg.pointee.err)) }
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

    /// Queues one message.
    public func produce(topic: String, key: String, value: [UInt8]) throws {
        var k = key
        try k.withUTF8 { kb in
            try value.withUnsafeBytes { vb in try produce(topic: topic, key: UnsafeRawBufferPointer(kb), value: vb) }
        }
    }

    /// Waits until every queued message is acknowledged (or `timeout` passes); throws if any failed.
    public func flush(timeout: Duration = .seconds(30)) throws {
        let ms = Int32(timeout.components.seconds * 1000)
        let err = rd_kafka_flush(rk, ms)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("flush", err) }
        if stats.failed > 0 { throw KafkaError("\(stats.failed) messages were not delivered: \(stats.firstError ?? "?")") }
    }
}

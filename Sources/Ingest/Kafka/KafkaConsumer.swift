import CRdKafka
import Foundation

/// One partition of one topic.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int
    public init(_ topic: String, _ partition: Int) { self.topic = topic; self.partition = partition }
    public static func < (a: TopicPartition, b: TopicPartition) -> Bool { (a.partition, a.topic) < (b.partition, b.topic) }
    public var description: String { "\(topic)[\(partition)]" }
}

/// A consumed record, valid only inside the callback that receives it (its bytes are
/// librdkafka's buffer).
public struct ConsumedRecord {
    public var topic: String
    public var partition: Int
    public var offset: Int64
    public var key: UnsafeRawBufferPointer
    public var value: UnsafeRawBufferPointer
    /// The record's timestamp (its producer's create time, or the broker's log-append time) in
    /// UTC milliseconds; -1 when the record carries none.
    public var timestamp: Int64 = -1

    public init(topic: String, partition: Int, offset: Int64, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                timestamp: Int64 = -1) {
        self.topic = topic; self.partition = partition; self.offset = offset
        self.key = key; self.value = value; self.timestamp = timestamp
    }
}

/// librdkafka's high-level (group) consumer, as the pipeline uses it (CONTRACT §3.1): the
/// application owns offsets — no auto-commit, no auto offset store; each assigned partition
/// starts where ``onAssign`` says (the pipeline's checkpoint in Postgres) and the offsets a
/// checkpoint committed are committed to the group afterwards, for lag tools. Rebalances are
/// eager and handed to ``onAssign``/``onRevoke`` on the polling thread, so the owner can restore
/// or checkpoint tasks before any record of a new assignment is delivered.
///
/// Not thread-safe: one thread polls, commits and pauses.
public final class KafkaConsumer {
    private let rk: OpaquePointer
    private var closed = false
    private let box: CallbackBox

    /// Called with the partitions just assigned; returns the offset to start each at (absent:
    /// the beginning of the partition).
    public var onAssign: ([TopicPartition]) -> [TopicPartition: Int64] {
        get { box.onAssign }
        set { box.onAssign = newValue }
    }
    /// Called with the partitions about to be taken away (before they are unassigned).
    public var onRevoke: ([TopicPartition]) -> Void {
        get { box.onRevoke }
        set { box.onRevoke = newValue }
    }
    /// With `enable.partition.eof`: a partition was read to its end (for `read_committed`, to the
    /// last stable offset).
    public var onEnd: (TopicPartition) -> Void {
        get { box.onEnd }
        set { box.onEnd = newValue }
    }
    /// Errors reported by the client (broker down, request failures): logged, retried by librdkafka.
    public var onError: (String) -> Void {
        get { box.onError }
        set { box.onError = newValue }
    }

    final class CallbackBox {
        var onAssign: ([TopicPartition]) -> [TopicPartition: Int64] = { _ in [:] }
        var onRevoke: ([TopicPartition]) -> Void = { _ in }
        var onError: (String) -> Void = { _ in }
        var onEnd: (TopicPartition) -> Void = { _ in }
        var assigned: Set<TopicPartition> = []
        /// Partitions paused through ``pause(_:resume:)`` and not resumed since.
        var paused: Set<TopicPartition> = []
    }

    /// The partitions assigned now.
    public var assignment: Set<TopicPartition> { box.assigned }

    /// Joins `group` at `brokers`. `settings` override the defaults.
    public init(brokers: String, group: String, settings: [(String, String)] = []) throws {
        var all: [(String, String)] = [
            ("bootstrap.servers", brokers),
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            // Range assigns partition p of every subscribed topic to the same member when the
            // topics have equal partition counts: the co-partitioning tasks rely on.
            ("partition.assignment.strategy", "range"),
            ("enable.partition.eof", "false"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
            ("max.poll.interval.ms", "300000"),
            ("fetch.wait.max.ms", "100"),
            // Prefetch up to the byte cap (queued.max.messages.kbytes, 64 MB) rather than stopping
            // at 100,000 records: with the default, fetching and processing alternated.
            ("queued.min.messages", "1000000"),
            ("log_level", "3"),
        ]
        all += settings
        all += kafkaSettings(fromEnvironment: "WAKALA_KAFKA_CONSUMER_SETTINGS")
        let conf = try makeKafkaConf(all)
        box = CallbackBox()
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(box).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, list, opaque in
            guard let rk, let opaque else { return }
            let box = Unmanaged<CallbackBox>.fromOpaque(opaque).takeUnretainedValue()
            let parts = KafkaConsumer.partitions(list)
            if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                let starts = box.onAssign(parts)
                if let list {
                    for i in 0..<Int(list.pointee.cnt) {
                        let e = list.pointee.elems + i
                        let tp = TopicPartition(String(cString: e.pointee.topic), Int(e.pointee.partition))
                        e.pointee.offset = starts[tp] ?? -2 // RD_KAFKA_OFFSET_BEGINNING
                    }
                }
                rd_kafka_assign(rk, list)
                // A partition paused before a rebalance stays paused when it comes back: start
                // it fetching again (only those: see ``pause(_:resume:)``).
                let again = parts.filter { box.paused.contains($0) }
                if !again.isEmpty {
                    let l = KafkaConsumer.makeList(again.map { ($0, Int64(0)) })
                    rd_kafka_resume_partitions(rk, l)
                    rd_kafka_topic_partition_list_destroy(l)
                    box.paused.subtract(again)
                }
                box.assigned = Set(parts)
            } else {
                box.onRevoke(parts)
                rd_kafka_assign(rk, nil)
                box.assigned = []
            }
        }
        rd_kafka_conf_set_error_cb(conf) { _, err, reason, opaque in
            guard let opaque else { return }
            let box = Unmanaged<CallbackBox>.fromOpaque(opaque).takeUnretainedValue()
            box.onError("\(String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(err)))): \(reason.map { String(cString: $0) } ?? "")")
        }
        rk = try makeKafkaHandle(RD_KAFKA_CONSUMER, conf)
        rd_kafka_poll_set_consumer(rk)
    }

    deinit {
        close()
        rd_kafka_destroy(rk)
    }

    static func partitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        guard let list else { return [] }
        return (0..<Int(list.pointee.cnt)).map { i in
            let e = list.pointee.elems[i]
            return TopicPartition(String(cString: e.topic), Int(e.partition))
        }
    }

    static func makeList(_ parts: some Collection<(TopicPartition, Int64)>) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(parts.count))!
        for (tp, offset) in parts {
            let e = rd_kafka_topic_partition_list_add(list, tp.topic, Int32(tp.partition))!
            e.pointee.offset = offset
        }
        return list
    }

    /// Subscribes to `topics` (the group assigns their partitions).
    public func subscribe(_ topics: [String]) throws {
        let list = Self.makeList(topics.map { (TopicPartition($0, -1), Int64(0)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(rk, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("subscribe to \(topics.joined(separator: ", "))", err) }
    }

    /// Delivers up to `max` records to `body`, waiting at most `timeoutMs` for the first;
    /// rebalance callbacks run inside. Returns the number delivered.
    @discardableResult
    public func poll(max: Int, timeoutMs: Int, _ body: (ConsumedRecord) throws -> Void) rethrows -> Int {
        var n = 0
        var wait = Int32(timeoutMs)
        var names: [OpaquePointer: String] = [:]
        while n < max, let m = rd_kafka_consumer_poll(rk, wait) {
            defer { rd_kafka_message_destroy(m) }
            wait = 0
            let msg = m.pointee
            if msg.err == RD_KAFKA_RESP_ERR__PARTITION_EOF, let rkt = msg.rkt {
                box.onEnd(TopicPartition(String(cString: rd_kafka_topic_name(rkt)), Int(msg.partition)))
                continue
            }
            if msg.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                box.onError("consume: \(String(cString: rd_kafka_err2str(msg.err)))")
                continue
            }
            guard let rkt = msg.rkt else { continue }
            let topic: String
            if let t = names[rkt] { topic = t } else { topic = String(cString: rd_kafka_topic_name(rkt)); names[rkt] = topic }
            try body(ConsumedRecord(topic: topic, partition: Int(msg.partition), offset: msg.offset,
                                    key: UnsafeRawBufferPointer(start: msg.key, count: msg.key_len),
                                    value: UnsafeRawBufferPointer(start: msg.payload, count: msg.len),
                                    timestamp: rd_kafka_message_timestamp(m, nil)))
            n += 1
        }
        return n
    }

    /// Reads these partitions from the given offsets, outside any group rebalance (no subscribe).
    public func assign(_ starts: [TopicPartition: Int64]) throws {
        let list = Self.makeList(starts.map { ($0.key, $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(rk, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("assign", err) }
        box.assigned = Set(starts.keys)
    }

    /// Commits `next` (the offset of the next record to read, per partition) to the group.
    public func commit(_ next: [TopicPartition: Int64], async: Bool = true) throws {
        guard !next.isEmpty else { return }
        let list = Self.makeList(next.map { ($0.key, $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_commit(rk, list, async ? 1 : 0)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("commit offsets", err) }
    }

    /// The offsets committed to the group for these partitions (-1001 when none).
    public func committed(_ parts: [TopicPartition], timeoutMs: Int = 10_000) throws -> [TopicPartition: Int64] {
        try Self.offsets(parts, initial: -1001, what: "read committed offsets", checkEach: false) { rd_kafka_committed(rk, $0, Int32(timeoutMs)) }
    }

    /// A partition list of `parts` with `initial` offsets, filled in by `call` (one librdkafka
    /// request for them all), read back; `checkEach`: a partition's own error throws too.
    static func offsets(_ parts: some Collection<TopicPartition>, initial: Int64, what: String, checkEach: Bool,
                        _ call: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> rd_kafka_resp_err_t) throws -> [TopicPartition: Int64] {
        let list = makeList(parts.map { ($0, initial) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = call(list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(what, err) }
        var out: [TopicPartition: Int64] = [:]
        for i in 0..<Int(list.pointee.cnt) {
            let e = list.pointee.elems[i]
            let tp = TopicPartition(String(cString: e.topic), Int(e.partition))
            if checkEach, e.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("\(what): \(tp)", e.err) }
            out[tp] = e.offset
        }
        return out
    }

    /// Stops (or resumes) fetching from these partitions, keeping their positions.
    ///
    /// Only a paused partition is resumed. librdkafka (2.0.2) resumes a partition by fetching
    /// from the offset it saved when pausing it; a partition never paused still holds the offset
    /// its assignment started at, so resuming it read everything since then a second time (the
    /// demo's internal topic came back from offset 0 at every checkpoint).
    public func pause(_ parts: [TopicPartition], resume: Bool = false) {
        let change = parts.filter { box.paused.contains($0) == resume }
        guard !change.isEmpty else { return }
        let list = Self.makeList(change.map { ($0, Int64(0)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if resume {
            rd_kafka_resume_partitions(rk, list)
            box.paused.subtract(change)
        } else {
            rd_kafka_pause_partitions(rk, list)
            box.paused.formUnion(change)
        }
    }

    /// Partitions of `topic`, from the cluster's metadata.
    public func partitionCount(_ topic: String, timeoutMs: Int = 10_000) throws -> Int {
        try KafkaMetadata.partitionCount(rk, topic, timeoutMs: timeoutMs)
    }

    /// The high watermark librdkafka last saw in a fetch response for a partition this consumer
    /// reads (no request; -1 when none yet): consumer lag without a round trip per partition.
    public func cachedHighWatermark(_ tp: TopicPartition) -> Int64 {
        var low: Int64 = -1, high: Int64 = -1
        _ = rd_kafka_get_watermark_offsets(rk, tp.topic, Int32(tp.partition), &low, &high)
        return high
    }

    /// The low and high (next to be written) offsets of one partition.
    public func watermarks(_ tp: TopicPartition, timeoutMs: Int = 10_000) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(rk, tp.topic, Int32(tp.partition), &low, &high, Int32(timeoutMs))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("offsets of \(tp)", err) }
        return (low, high)
    }

    /// Leaves the group (revoking the assignment through ``onRevoke`` first). Idempotent.
    public func close() {
        guard !closed else { return }
        closed = true
        rd_kafka_consumer_close(rk)
    }
}

/// Cluster metadata queries shared by the consumer and producer.
enum KafkaMetadata {
    static func partitionCount(_ rk: OpaquePointer, _ topic: String, timeoutMs: Int) throws -> Int {
        guard let rkt = rd_kafka_topic_new(rk, topic, nil) else { throw KafkaError("topic \(topic)") }
        defer { rd_kafka_topic_destroy(rkt) }
        var md: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(rk, 0, rkt, &md, Int32(timeoutMs))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("metadata of \(topic)", err) }
        defer { rd_kafka_metadata_destroy(md) }
        guard let m = md?.pointee, m.topic_cnt > 0 else { throw KafkaError("no metadata for topic \(topic)") }
        let t = m.topics[0]
        if t.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError("topic \(topic)", t.err) }
        return Int(t.partition_cnt)
    }
}

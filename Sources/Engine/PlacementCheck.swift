import Domain
import Foundation
import Ingest
import Metrics

/// Finds the task that owns each input record (issue 28): partition p of every input topic is
/// task p only if every producer placed keys the same way, so each record's owner is its key's
/// partition under the pipeline's partitioner — one canonical owner per key across all topics,
/// where well-partitioned records already are. One hash per keyed record; a second only for a
/// misplaced one, to name the partitioner its producer used. A record without a key is owned by
/// the key the pipeline uses for its event (``Event/kafkaKey``: the tenant, or the driver of a
/// location), read from its payload.
///
/// A record read elsewhere is forwarded to its owner (the reroute topic). Misplaced keyed records
/// are counted (`wakala_misrouted_records_total{topic}`) and each topic's first is reported once
/// per run, with the fix; every forwarded record is counted in
/// `wakala_forwarded_records_total{topic,reason}` (reason `misplaced` or `keyless`).
final class PlacementCheck {
    let topics: [String]
    let partitions: Int
    /// The source's `partitioner` (auto: murmur2, the Java default and the repartition's).
    let expected: Partitioner
    private var counts: [Int]
    private var reported: Set<Int> = []
    private let warn: (String) -> Void
    /// Misplaced records per topic since the start (summary, tests).
    private(set) var total: [Int]
    /// Keyless records forwarded per topic since the last ``publish()``, and since the start.
    private var keyless: [Int]
    private(set) var keylessTotal: [Int]
    /// Reads a keyless record's payload key; its limit is the source's `max_record_bytes`.
    private let decoder: EventDecoder

    init(topics: [String], partitions: Int, expected: Partitioner, maxRecordBytes: Int = EventDecoder.maxRecordBytes,
         warn: @escaping (String) -> Void) {
        decoder = EventDecoder(maxRecordBytes: maxRecordBytes)
        self.topics = topics
        self.partitions = partitions
        self.expected = expected
        self.warn = warn
        counts = Array(repeating: 0, count: topics.count)
        total = counts
        keyless = counts
        keylessTotal = counts
    }

    /// The task owning a record of input topic `topic` (by index) read from `partition` at
    /// `offset`, when that is another task; nil when it is this one — or when the record will be
    /// dead-lettered whoever reads it and is best left where it is: over `max_record_bytes` (it
    /// might not fit the reroute topic), or keyless with a payload that does not decode.
    @inline(__always)
    func owner(topic: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, partition: Int, offset: Int64) -> Int? {
        guard partitions > 1, value.count <= decoder.maxRecordBytes else { return nil }
        guard !key.isEmpty else { return keylessOwner(topic: topic, value: value, partition: partition) }
        let want = expected.partition(of: key, count: partitions)
        guard want != partition else { return nil }
        misplaced(topic: topic, key: key, partition: partition, offset: offset, want: want)
        return want
    }

    private func keylessOwner(topic: Int, value: UnsafeRawBufferPointer, partition: Int) -> Int? {
        guard case .success(let e) = decoder.decode(value) else { return nil }
        let want = expected.partition(e.kafkaKey, count: partitions)
        guard want != partition else { return nil }
        keyless[topic] += 1
        keylessTotal[topic] += 1
        return want
    }

    private func misplaced(topic: Int, key: UnsafeRawBufferPointer, partition: Int, offset: Int64, want: Int) {
        counts[topic] += 1
        total[topic] += 1
        guard reported.insert(topic).inserted else { return }
        let others = Partitioner.allCases.filter { $0 != expected && $0.partition(of: key, count: partitions) == partition }
        let seen = others.first.map { p -> String in
            p == .crc32 ? "crc32 — librdkafka's default partitioner (consistent_random), which confluent-kafka (Python, Go, .NET), node-rdkafka and kcat use unless told otherwise"
                        : "murmur2 — Kafka's Java default (librdkafka: murmur2_random)"
        } ?? "neither murmur2 nor crc32 (a random or custom partitioner)"
        let name = String(decoding: key.prefix(64), as: UTF8.self)
        let fix = others.first.map { p in
            "produce with \(expected.librdkafkaSetting) (partitioner=\(expected.librdkafkaSetting) in librdkafka clients), or, if every producer of every input topic uses \(p.rawValue), set `partitioner: \(p.rawValue)` on the pipeline's kafka source"
        } ?? "produce keyed records with \(expected.librdkafkaSetting)"
        warn("topic \(topics[topic]): record \(partition)/\(offset) has key \(name), which \(expected.rawValue) (the pipeline's partitioner) places in partition \(want); it was placed by \(seen). Such records are forwarded to the task that owns their key (through the reroute topic), so results stay right, at the cost of a second trip through Kafka. Fix: \(fix). Counted in wakala_misrouted_records_total{topic}; said once per topic")
    }

    /// Adds the counts since the last call to the metrics.
    func publish() {
        for (i, n) in counts.enumerated() where n > 0 {
            Counter(label: "wakala_misrouted_records_total", dimensions: [("topic", topics[i])]).increment(by: n)
            Counter(label: "wakala_forwarded_records_total", dimensions: [("topic", topics[i]), ("reason", "misplaced")]).increment(by: n)
            counts[i] = 0
        }
        for (i, n) in keyless.enumerated() where n > 0 {
            Counter(label: "wakala_forwarded_records_total", dimensions: [("topic", topics[i]), ("reason", "keyless")]).increment(by: n)
            keyless[i] = 0
        }
    }
}

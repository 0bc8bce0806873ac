import Domain
import Foundation
import Metrics

/// Checks that each keyed input record sits in the partition its key maps to under the
/// pipeline's partitioner (issue 28): partition p of every input topic is task p only if every
/// producer placed keys the same way. One hash per record; a second only for a misplaced one, to
/// name the partitioner its producer used. Misplaced records are counted
/// (`wakala_misrouted_records_total{topic}`) and each topic's first is reported once per run,
/// with the fix. (They are still processed by the task that read them: forwarding them to the
/// task that owns their key is the next step of issue 28.)
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

    init(topics: [String], partitions: Int, expected: Partitioner, warn: @escaping (String) -> Void) {
        self.topics = topics
        self.partitions = partitions
        self.expected = expected
        self.warn = warn
        counts = Array(repeating: 0, count: topics.count)
        total = counts
    }

    /// A record of input topic `topic` (by index), read from `partition`, with its key (an empty
    /// key is not checked: producers spread those as they like).
    @inline(__always)
    func check(topic: Int, key: UnsafeRawBufferPointer, partition: Int, offset: Int64) {
        guard partitions > 1, !key.isEmpty else { return }
        let want = expected.partition(of: key, count: partitions)
        guard want != partition else { return }
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
        warn("topic \(topics[topic]): record \(partition)/\(offset) has key \(name), which \(expected.rawValue) (the pipeline's partitioner) places in partition \(want); it was placed by \(seen). Records placed another way are read by the wrong task, so joins across topics (orders and payments, deliveries and driver locations) miss them. Fix: \(fix). Counted in wakala_misrouted_records_total{topic}; said once per topic")
    }

    /// Adds the counts since the last call to the metric.
    func publish() {
        for (i, n) in counts.enumerated() where n > 0 {
            Counter(label: "wakala_misrouted_records_total", dimensions: [("topic", topics[i])]).increment(by: n)
            counts[i] = 0
        }
    }
}

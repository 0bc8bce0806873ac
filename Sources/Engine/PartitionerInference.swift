import Domain
import Foundation
import Ingest
import Sinks
import Postgres
import Lifecycle

/// `partitioner: auto` (issue 28): which of the two defaults in use — murmur2 (Kafka's Java
/// client) or CRC-32 (librdkafka's, so Python, Go, .NET and kcat) — placed the input topics'
/// keyed records, decided once per pipeline and recorded in Postgres
/// (`wakala.source_partitioners`), so every process and every restart places the repartition's
/// events, and checks the inputs, the same way.
///
/// Rule: up to ``sample`` keyed records of each topic, read from the start of each partition; a
/// record votes for a partitioner when that one places its key in the partition it is in and the
/// other does not (a key both place there, one in `n`, says nothing). A topic is decided by its
/// votes' majority; the pipeline's partitioner is the one most topics were decided for (murmur2
/// on a tie). With one partition every key is in place: nothing to decide.
///
/// Every process of a pipeline must place keys the same way from its first record on (a key's
/// owner is the task its partitioner names), so the decision comes before anything is processed:
/// a process that finds the input topics empty waits for their first records (another process may
/// decide meanwhile: its word holds). Records without votes — keyless ones, or keys both
/// partitioners place where they are — decide nothing for ``undecidedWait`` seconds after the
/// first record was seen; then murmur2 is recorded (keyless records are owned by their payload's
/// key either way). A bounded run (`--until-end`) of empty topics processes nothing and decides
/// nothing.
enum PartitionerInference {
    static let sample = 400
    /// Seconds records without votes may keep the decision waiting.
    static let undecidedWait = 10.0

    /// The recorded partitioner, or one decided now from the topics (and recorded); with `wait`,
    /// waits for the topics' first records when they are empty.
    static func resolve(pipeline: String, topics: [String], partitions: Int, brokers: String, db: PGConnection, wait: Bool,
                        log: (String) -> Void) throws -> Partitioner {
        func recorded() throws -> Partitioner? {
            try db.query("SELECT partitioner FROM wakala.source_partitioners WHERE pipeline = $1", [pipeline]).rows.first?[0]
                .flatMap(Partitioner.init(rawValue:))
        }
        if let p = try recorded() { return p }
        guard partitions > 1 else { return .murmur2 }
        var firstRecordAt: Date?
        var said = false
        while true {
            let (votes, anyRecords) = try count(topics: topics, partitions: partitions, brokers: brokers)
            var decided: [Partitioner: [String]] = [:]
            for t in topics {
                let v = votes[t] ?? [:]
                let m = v[.murmur2] ?? 0, c = v[.crc32] ?? 0
                guard m + c > 0 else { continue }
                decided[m >= c ? .murmur2 : .crc32, default: []].append(t)
            }
            if anyRecords, firstRecordAt == nil { firstRecordAt = Date() }
            let undecidable = firstRecordAt.map { Date().timeIntervalSince($0) >= undecidedWait } ?? false
            if !decided.isEmpty || undecidable {
                let choice: Partitioner = (decided[.crc32]?.count ?? 0) > (decided[.murmur2]?.count ?? 0) ? .crc32 : .murmur2
                let summary = topics.map { t in "\(t) \(votes[t]?[.murmur2] ?? 0)/\(votes[t]?[.crc32] ?? 0)" }.joined(separator: ", ")
                log("partitioner: auto — the input topics' keys are placed by \(choice.rawValue) (votes murmur2/crc32: \(summary)" +
                    (decided.isEmpty ? "; no record told them apart within \(Int(undecidedWait)) s" : "") + "); recorded for pipeline \(pipeline)")
                try db.query("""
                    INSERT INTO wakala.source_partitioners (pipeline, partitioner, votes) VALUES ($1, $2, $3)
                    ON CONFLICT (pipeline) DO NOTHING
                    """, [pipeline, choice.rawValue, summary])
                // Another process may have recorded first: its word holds.
                return try recorded() ?? choice
            }
            guard wait else {
                log("partitioner: auto — the input topics hold no keyed records to decide from; nothing to process until their end")
                return .murmur2
            }
            if !said {
                said = true
                log("partitioner: auto — waiting for the input topics' first keyed records to decide which partitioner placed them (set `partitioner: murmur2` or `crc32` on the kafka source to start without waiting)")
            }
            try Shutdown.sleep(1, while: "waiting for the input topics' first records to decide their partitioner (partitioner: auto)")
            if let p = try recorded() { return p }
        }
    }

    /// Per topic, the votes of up to ``sample`` keyed records; and whether any topic holds records.
    static func count(topics: [String], partitions: Int, brokers: String) throws -> (votes: [String: [Partitioner: Int]], anyRecords: Bool) {
        let reader = try KafkaConsumer(brokers: brokers, group: "wakala-partitioner-probe-\(UUID().uuidString)",
                                       settings: [("enable.partition.eof", "true")])
        defer { reader.close() }
        var starts: [TopicPartition: Int64] = [:]
        for t in topics {
            for p in 0..<partitions {
                let tp = TopicPartition(t, p)
                let w = try reader.watermarks(tp)
                if w.high > w.low { starts[tp] = w.low }
            }
        }
        guard !starts.isEmpty else { return ([:], false) }
        try reader.assign(starts)
        var votes: [String: [Partitioner: Int]] = [:]
        var seen: [String: Int] = [:]
        var ended = Set<TopicPartition>()
        reader.onEnd = { ended.insert($0) }
        let perPartition = max(1, sample / partitions + 1)
        var taken: [TopicPartition: Int] = [:]
        let deadline = Date().addingTimeInterval(10)
        func done() -> Bool {
            starts.keys.allSatisfy { ended.contains($0) || (taken[$0] ?? 0) >= perPartition } || topics.allSatisfy { (seen[$0] ?? 0) >= sample }
        }
        while !done(), Date() < deadline {
            reader.poll(max: 1000, timeoutMs: 100) { r in
                let tp = TopicPartition(r.topic, r.partition)
                guard !r.key.isEmpty, (taken[tp] ?? 0) < perPartition, (seen[r.topic] ?? 0) < sample else { return }
                taken[tp, default: 0] += 1
                seen[r.topic, default: 0] += 1
                let m = Partitioner.murmur2.partition(of: r.key, count: partitions) == r.partition
                let c = Partitioner.crc32.partition(of: r.key, count: partitions) == r.partition
                if m != c { votes[r.topic, default: [:]][m ? .murmur2 : .crc32, default: 0] += 1 }
            }
        }
        return (votes, true)
    }
}

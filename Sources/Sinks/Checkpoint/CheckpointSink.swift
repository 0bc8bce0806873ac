import Crypto
import Metrics
import Domain
import Foundation
import Operators
import Postgres

/// What one checkpoint hands its sinks: the outputs of the operators since the previous one, as
/// the cut took them on the worker's thread (written afterwards on the writer thread).
struct CheckpointCut: @unchecked Sendable { // handed to the writer thread and never touched again by the worker
    var id: Int64
    var readModels: [ReadModelRow]
    var outputs: [(name: String, results: [StageResult])]
    /// The Parquet files filled since the previous checkpoint (finished by the Parquet sink).
    var parquet: ParquetTables.Appender?
    var dead: [DeadLetter]
}

/// A sink of checkpointed output, in two phases (Flink's `SinkWriter` → `Committer`): `prepare`
/// writes what can be written before the checkpoint's Postgres transaction and names the files
/// its manifest must hold; `commit` runs inside that transaction; `finish` after it committed.
/// A crash at any point leaves nothing that the next start does not clean up or complete:
/// files no manifest row names are deleted; what `finish` did not do, recovery does.
protocol CheckpointSink: AnyObject {
    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File]
    func commit(_ cut: CheckpointCut, _ db: PGConnection) throws
    /// `database` runs its body against a healthy connection (retrying what can heal).
    func finish(_ cut: CheckpointCut, database: (String, (PGConnection) throws -> Void) throws -> Void) throws
}

extension CheckpointSink {
    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] { [] }
    func commit(_ cut: CheckpointCut, _ db: PGConnection) throws {}
    func finish(_ cut: CheckpointCut, database: (String, (PGConnection) throws -> Void) throws -> Void) throws {}
}

/// The Kafka records of a checkpoint: derived events of the operators a kafka sink takes (keyed by
/// tenant, the event's JSON), and dead letters as the record unchanged with why and where as
/// headers (CONTRACT §1).
enum KafkaRecords {
    static func of(_ cut: CheckpointCut, derivedTopics: [String: String], deadLetterTopic: String) -> [KafkaTransactions.Record] {
        var records: [KafkaTransactions.Record] = []
        for (name, results) in cut.outputs {
            guard let topic = derivedTopics[name] else { continue }
            for case .event(let d) in results {
                records.append(.init(topic: topic, key: Array(d.tenantID.utf8), value: d.jsonBytes, headers: []))
            }
        }
        for d in cut.dead {
            records.append(.init(topic: deadLetterTopic, key: Array(d.source.utf8), value: d.record, headers: [
                ("reason", Array(d.reason.rawValue.utf8)), ("detail", Array(d.detail.utf8)), ("source", Array(d.source.utf8)),
                ("partition", Array(String(d.partition).utf8)), ("offset", Array(String(d.offset).utf8)),
            ]))
        }
        return records
    }

    /// What a cut dead letter's value is cut to: under the 1,000,000 bytes that Kafka brokers and
    /// librdkafka take by default, with room for the headers and the batch around it.
    static let cutValueBytes = 1_000_000 - 16_384

    /// A dead letter a broker refused for its size, cut so it can always be written: its value's
    /// first ``cutValueBytes`` bytes, with headers `truncated=true`, `original_bytes` and
    /// `sha256` (of the whole original value) beside the usual ones. Counted
    /// (`wakala_dead_letters_truncated_total`); the caller logs it at error.
    static func cut(_ r: KafkaTransactions.Record) -> KafkaTransactions.Record {
        guard r.value.count > cutValueBytes else { return r }
        var c = r
        let digest = SHA256.hash(data: r.value).map { String(format: "%02x", $0) }.joined()
        c.value = Array(r.value.prefix(cutValueBytes))
        c.headers += [("truncated", Array("true".utf8)), ("original_bytes", Array(String(r.value.count).utf8)), ("sha256", Array(digest.utf8))]
        Counter(label: "wakala_dead_letters_truncated_total").increment()
        return c
    }
}

import Domain
import Foundation
import Ingest
import Operators

/// Derived events and dead letters to Kafka at least once (`replay --kafka`): produced and
/// acknowledged by the brokers before the checkpoint commits; a replay after a crash sends the
/// same deterministic ids again, which consumers dedupe (CONTRACT §3.5). `wakala run` uses the
/// exactly-once ``KafkaTransactions`` instead.
final class KafkaSink: CheckpointSink {
    let producer: KafkaProducer
    let derivedTopics: [String: String]
    let deadLetterTopic: String
    let backoff: Double, maxBackoff: Double
    let log: (String) -> Void
    private(set) var retries = 0

    init(producer: KafkaProducer, derivedTopics: [String: String], deadLetterTopic: String, backoff: Double, maxBackoff: Double,
         log: @escaping (String) -> Void) {
        self.producer = producer; self.derivedTopics = derivedTopics; self.deadLetterTopic = deadLetterTopic
        self.backoff = backoff; self.maxBackoff = maxBackoff; self.log = log
    }

    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] {
        for r in KafkaRecords.of(cut, derivedTopics: derivedTopics, deadLetterTopic: deadLetterTopic) {
            try r.value.withUnsafeBytes { v in try producer.produce(topic: r.topic, key: r.key, value: v, headers: r.headers) }
        }
        var delay = backoff
        while true {
            do { try producer.flush(); return [] } catch {
                retries += 1
                log("delivering checkpoint \(cut.id) to Kafka failed (\(error)); input paused, retrying in \(String(format: "%.1f", delay)) s")
                Thread.sleep(forTimeInterval: delay)
                delay = min(maxBackoff, delay * 2)
            }
        }
    }
}

import Domain
import Foundation
import Ingest
import Operators
import Lifecycle

/// Derived events and dead letters to Kafka at least once (`replay --brokers`): produced and
/// acknowledged by the brokers before the checkpoint commits; a replay after a crash sends the
/// same deterministic ids again, which consumers dedupe (CONTRACT §3.5). `wakala run` uses the
/// exactly-once ``KafkaTransactions`` instead.
final class KafkaSink: CheckpointSink {
    let producer: KafkaProducer
    let derivedTopics: [String: String]
    let deadLetterTopic: String
    let backoff: Double, maxBackoff: Double
    let log: (String) -> Void
    let logError: (String) -> Void
    private(set) var retries = 0

    init(producer: KafkaProducer, derivedTopics: [String: String], deadLetterTopic: String, backoff: Double, maxBackoff: Double,
         log: @escaping (String) -> Void, logError: ((String) -> Void)? = nil) {
        self.producer = producer; self.derivedTopics = derivedTopics; self.deadLetterTopic = deadLetterTopic
        self.backoff = backoff; self.maxBackoff = maxBackoff; self.log = log; self.logError = logError ?? log
    }

    /// Sends the checkpoint's records and waits for every acknowledgement; after a failure all of
    /// them go again (at least once). A dead letter refused for its size is cut
    /// (``KafkaRecords/cut(_:)``) rather than sent again as it is, which could never succeed.
    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] {
        var records = KafkaRecords.of(cut, derivedTopics: derivedTopics, deadLetterTopic: deadLetterTopic)
        func oversized(_ r: KafkaTransactions.Record) -> Bool { r.topic == deadLetterTopic && r.value.count > KafkaRecords.cutValueBytes }
        func cutting(_ i: Int, _ why: Error) {
            let r = records[i]
            records[i] = KafkaRecords.cut(r)
            logError("a dead letter of \(r.value.count) bytes was refused by Kafka (\(why)); writing its first \(records[i].value.count) bytes with truncated=true, original_bytes and sha256 headers (checkpoint \(cut.id))")
        }
        var delay = backoff
        while true {
            do {
                for i in records.indices {
                    do {
                        try records[i].value.withUnsafeBytes { v in try producer.produce(topic: records[i].topic, key: records[i].key, value: v, headers: records[i].headers) }
                    } catch let e as KafkaError where e.isSizeRefusal && oversized(records[i]) {
                        cutting(i, e)
                        try records[i].value.withUnsafeBytes { v in try producer.produce(topic: records[i].topic, key: records[i].key, value: v, headers: records[i].headers) }
                    }
                }
                try producer.flush()
                return []
            } catch {
                if (error as? KafkaError)?.isPermanent == true {
                    throw KafkaError("delivering checkpoint \(cut.id) to Kafka: \(error) — retrying cannot mend this (check the client's ACLs and the topics)")
                }
                if (error as? KafkaError)?.isSizeRefusal == true {
                    let big = records.indices.filter { oversized(records[$0]) }
                    guard !big.isEmpty else { throw error }
                    for i in big { cutting(i, error) }
                }
                retries += 1
                log("delivering checkpoint \(cut.id) to Kafka failed (\(error)); input paused, sending it again in \(String(format: "%.1f", delay)) s")
                try Shutdown.sleep(delay, while: "delivering checkpoint \(cut.id) to Kafka (\(error))")
                delay = min(maxBackoff, delay * 2)
            }
        }
    }
}

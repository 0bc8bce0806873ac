import Domain
import Operators

/// The Parquet tables (`events`, `order_facts`, `order_items`) of the streams the parquet sink
/// takes. Rows stream into the next checkpoint's files as batches pass (``absorb(_:)``, on the
/// worker's thread); the checkpoint takes those files (``detach(checkpoint:)``) and its
/// `prepare` finishes them (footer, fsync, rename) before the commit names them in its manifest.
final class ParquetSink: CheckpointSink {
    let root: String
    let worker: Int
    let rowGroupRows: Int
    /// The files of the checkpoint being filled.
    private var filling: ParquetTables.Appender?

    init(root: String, worker: Int, rowGroupRows: Int) {
        self.root = root; self.worker = worker; self.rowGroupRows = rowGroupRows
    }

    /// Appends the events tapped since the last call (`checkpoint`: the id they will commit with).
    func absorb(_ tapped: (events: [String: [Timestamped<Event>]], raw: [String: [UInt8]]), checkpoint: Int64) throws {
        for (_, events) in tapped.events.sorted(by: { $0.key < $1.key }) where !events.isEmpty {
            if filling == nil { filling = ParquetTables.Appender(root: root, checkpoint: checkpoint, worker: worker, rowGroupRows: rowGroupRows) }
            try filling!.append(events, raw: tapped.raw)
        }
    }

    /// Hands the checkpoint's open files over (the next rows start new ones).
    func detach() -> ParquetTables.Appender? {
        defer { filling = nil }
        return filling
    }

    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] {
        guard let files = cut.parquet else { return [] }
        do { return try files.close() } catch { files.abandon(); throw error }
    }
}

import Domain
import Operators

/// The Parquet tables (`events`, `order_facts`, `order_items`) of the streams the parquet sink
/// takes: written under temporary names and renamed before the commit, named in its manifest.
final class ParquetSink: CheckpointSink {
    let root: String
    let worker: Int
    let rowGroupRows: Int

    init(root: String, worker: Int, rowGroupRows: Int) {
        self.root = root; self.worker = worker; self.rowGroupRows = rowGroupRows
    }

    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] {
        var files: [ParquetTables.File] = []
        for (_, events) in cut.tapped.events.sorted(by: { $0.key < $1.key }) {
            files += try ParquetTables.write(events, raw: cut.tapped.raw, root: root, checkpoint: cut.id, worker: worker,
                                            rowGroupRows: rowGroupRows)
        }
        return files
    }
}

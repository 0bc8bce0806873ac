import Domain
import Foundation
import Operators

/// The Parquet tables (`events`, `order_facts`, `order_items`) of the streams the parquet sink
/// takes. Rows stream into the next checkpoint's files as batches pass (``absorb(_:)``, on the
/// worker's thread); the checkpoint takes those files (``detach(checkpoint:)``) and its
/// `prepare` finishes them (footer, fsync, rename) before the commit names them in its manifest.
final class ParquetSink: CheckpointSink, @unchecked Sendable { // its state lives on `encoder`
    let root: String
    let worker: Int
    let rowGroupRows: Int
    /// The files of the checkpoint being filled (touched only on `encoder`).
    private var filling: ParquetTables.Appender?
    /// Rows are encoded here, off the worker's thread (the second core): the worker hands each
    /// batch's events over and goes on.
    private let encoder = DispatchQueue(label: "wakala.parquet-encoder")
    nonisolated(unsafe) private var failure: Error?
    /// At most this many batches wait for the encoder: a worker faster than it waits, so memory
    /// stays bounded (each batch holds its events until encoded).
    private let slots = DispatchSemaphore(value: 4)

    /// `window_aggregate` operators whose rows go to tables of their own, by operator name.
    let windows: [String: WindowTable]

    init(root: String, worker: Int, rowGroupRows: Int, windows: [WindowTable] = []) {
        self.root = root; self.worker = worker; self.rowGroupRows = rowGroupRows
        self.windows = Dictionary(windows.map { ($0.op, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Queues the events tapped since the last call (`checkpoint`: the id they will commit with)
    /// for the encoder; a failure there is thrown by the next call.
    func absorb(_ tapped: (events: [String: [Timestamped<Event>]], raw: RawRecords), checkpoint: Int64) throws {
        if let e = encoder.sync(execute: { failure }) { throw e }
        let work = Tapped(events: tapped.events, raw: tapped.raw) // handed over: the runner keeps no reference
        slots.wait()
        encoder.async { [self] in
            defer { slots.signal() }
            guard failure == nil else { return }
            do {
                for (_, events) in work.events.sorted(by: { $0.key < $1.key }) where !events.isEmpty {
                    if filling == nil { filling = ParquetTables.Appender(root: root, checkpoint: checkpoint, worker: worker, rowGroupRows: rowGroupRows) }
                    try filling!.append(events, raw: work.raw)
                }
            } catch {
                failure = error
            }
        }
    }

    struct Tapped: @unchecked Sendable {
        var events: [String: [Timestamped<Event>]]
        var raw: RawRecords
    }

    /// Waits for the encoder, then hands the checkpoint's open files over (the next rows start
    /// new ones).
    func detach() throws -> ParquetTables.Appender? {
        try encoder.sync {
            if let e = failure { throw e }
            defer { filling = nil }
            return filling
        }
    }

    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] {
        var files = cut.parquet
        do {
            for (name, results) in cut.outputs where !results.isEmpty {
                guard let w = windows[name] else { continue }
                if files == nil { files = ParquetTables.Appender(root: root, checkpoint: cut.id, worker: worker, rowGroupRows: rowGroupRows) }
                try files!.appendWindowRows(table: w.table, sums: w.sums, results)
            }
        } catch { files?.abandon(); throw error }
        guard let files else { return [] }
        do { return try files.close() } catch { files.abandon(); throw error }
    }
}

/// A `window_aggregate` operator a sink takes: its rows' table (its `output`, else its name) and
/// whether they carry a sum.
public struct WindowTable: Sendable, Equatable {
    public var op: String
    public var table: String
    public var sums: Bool
    public init(op: String, table: String, sums: Bool) { self.op = op; self.table = table; self.sums = sums }
}

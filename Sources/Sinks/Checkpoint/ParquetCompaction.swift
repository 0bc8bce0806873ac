import Domain
import Foundation

/// Compaction of a task's committed Parquet part files (Flink's `FileSink` compaction): every
/// checkpoint adds a file per table and day it touched (`part-<checkpoint>-<worker>`), so a run
/// with 16 tasks checkpointing every 10 s leaves ~400,000 small files a day, and a reader pays
/// for each (DuckDB: 444 files 110–128 ms, the same rows in one 11–13 ms). Once a UTC day is
/// closed — the watermark past its end by the allowed lateness, so no event can reach it — the
/// task's files of that day and table are merged into one (`part-<first>-<worker>-<merging
/// checkpoint>`): the row groups of large files copied as they are
/// (``ParquetWriter/appendRowGroups(of:)``), the rows of small ones decoded and encoded again into
/// full row groups (``ParquetWriter/appendRows(of:)``).
///
/// Exactly once like the files themselves: the merged file is written and renamed into place
/// while the checkpoint prepares; the checkpoint's transaction names it in the manifest and
/// removes the rows of the files it replaces; only after the commit are those files deleted. A
/// crash before the commit leaves the merged file unnamed, after it the replaced files: either
/// way the next start removes what no manifest row names. A reader that lists the folder rather
/// than the manifest may, for the moment between the merged file's rename and the replaced
/// files' deletion, see both (as it may already see files whose checkpoint has not committed).
final class ParquetCompaction: @unchecked Sendable { // every mutable member under `lock`
    struct Merge: Sendable {
        var merged: ParquetTables.File
        var replaced: [ParquetTables.File]
    }

    let root: String
    let worker: Int
    let lateness: Int64
    /// The merged files' row groups (the parquet sink's `row_group_rows`).
    let rowGroupRows: Int
    let log: (String) -> Void
    /// At most this many bytes of files merged by one checkpoint: its latency stays bounded; what
    /// is left waits for the next.
    static let maxBytesPerCheckpoint: Int64 = 256 << 20

    private let lock = NSLock()
    /// This task's committed files by folder (`<root>/<table>/date=…`).
    private var committed: [String: [ParquetTables.File]] = [:]
    /// Files a prepared merge replaces, until its checkpoint commits (not merged twice).
    private var merging: Set<String> = []
    /// Folders whose merge failed (logged once; not tried again by this process).
    private var failed: Set<String> = []

    /// Tables beside the fixed ones (a `window_aggregate`'s, by table name), with their columns.
    let extraTables: [String: [ParquetColumn]]

    init(root: String, worker: Int, lateness: Int64, rowGroupRows: Int = ParquetTables.Appender.defaultRowGroupRows,
         committed files: [ParquetTables.File], extraTables: [String: [ParquetColumn]] = [:], log: @escaping (String) -> Void) {
        self.root = root; self.worker = worker; self.lateness = lateness; self.rowGroupRows = rowGroupRows; self.log = log
        self.extraTables = extraTables
        for f in files where ParquetTables.columns(of: f.table) ?? extraTables[f.table] != nil {
            self.committed[Self.folder(f.path), default: []].append(f)
        }
    }

    /// The columns of a table this compaction merges (nil: not one of its tables).
    func columns(of table: String) -> [ParquetColumn]? { ParquetTables.columns(of: table) ?? extraTables[table] }

    static func folder(_ path: String) -> String { (path as NSString).deletingLastPathComponent }

    /// The first checkpoint a part file holds: A of `part-A-W`, and of a merged `part-A-W-B` (B the
    /// checkpoint that merged it: later than every file it holds, and than every earlier merge,
    /// so a merged file's name is never one of its inputs').
    static func firstCheckpoint(_ path: String) -> Int64? {
        let name = (path as NSString).lastPathComponent
        guard name.hasPrefix("part-"), name.hasSuffix(".parquet") else { return nil }
        let parts = name.dropFirst(5).dropLast(8).split(separator: "-")
        guard parts.count == 2 || parts.count == 3 else { return nil }
        return Int64(parts[0])
    }

    /// The UTC day a folder holds (`date=YYYY-MM-DD`): its end, in ms.
    static func dayEnd(_ folder: String) -> EpochMillis? {
        let name = (folder as NSString).lastPathComponent
        let text = Array((name.dropFirst(5) + "T00:00:00Z").utf8)
        guard name.hasPrefix("date="), let start = text.withUnsafeBytes({ RFC3339.parse(ascii: $0) }) else { return nil }
        return start + 86_400_000
    }

    /// Merges the files of every day closed at `watermark` (two or more files of one table: the
    /// task's committed ones and the checkpoint's own `fresh` ones), oldest days first, up to
    /// ``maxBytesPerCheckpoint``; the merged files are in place but named by no manifest row until
    /// the checkpoint commits (``committed(_:merges:)``). A fresh file a merge replaces never
    /// gets a manifest row.
    func prepare(watermark: EpochMillis, checkpoint: Int64, fresh: [ParquetTables.File]) -> [Merge] {
        lock.lock()
        var candidates = committed
        for f in fresh where columns(of: f.table) != nil && f.path.hasPrefix(root + "/") {
            candidates[Self.folder(f.path), default: []].append(f)
        }
        let due = candidates.compactMap { (folder, files) -> (String, EpochMillis, [ParquetTables.File])? in
            guard let end = Self.dayEnd(folder), watermark >= end + lateness, !failed.contains(folder) else { return nil }
            let free = files.filter { !merging.contains($0.path) }
            return free.count >= 2 ? (folder, end, free) : nil
        }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        var picked: [(String, [ParquetTables.File])] = []
        var bytes: Int64 = 0
        for (folder, _, files) in due where bytes < Self.maxBytesPerCheckpoint {
            picked.append((folder, files))
            bytes += files.reduce(0) { $0 + $1.bytes }
            for f in files { merging.insert(f.path) }
        }
        lock.unlock()
        var merges: [Merge] = []
        for (folder, files) in picked {
            do {
                merges.append(try merge(folder, files, checkpoint: checkpoint))
            } catch {
                log("compacting \(folder): \(error); its files stay as they are")
                lock.lock()
                failed.insert(folder)
                for f in files { merging.remove(f.path) }
                lock.unlock()
            }
        }
        return merges
    }

    private func merge(_ folder: String, _ files: [ParquetTables.File], checkpoint: Int64) throws -> Merge {
        let inputs = try files.map { f -> (file: ParquetTables.File, first: Int64) in
            guard let first = Self.firstCheckpoint(f.path) else { throw ParquetError("\(f.path) is not a part file") }
            return (f, first)
        }.sorted { $0.first < $1.first }
        guard let table = files.first?.table, files.allSatisfy({ $0.table == table }), let columns = columns(of: table) else {
            throw ParquetError("no Parquet table \(files.first?.table ?? "?")")
        }
        let path = "\(folder)/part-\(inputs[0].first)-\(worker)-\(checkpoint).parquet"
        guard !files.contains(where: { $0.path == path }) else { throw ParquetError("\(path) would replace itself") }
        // Files of a quarter of a row group or more keep their row groups (copied first); smaller
        // ones — a real-time checkpoint's few hundred rows — are decoded and their rows encoded
        // again into full row groups (100-row groups scan ~70× slower than 20,000-row ones).
        let large = inputs.map(\.file).filter { $0.rows * 4 >= Int64(rowGroupRows) }, small = inputs.map(\.file).filter { $0.rows * 4 < Int64(rowGroupRows) }
        let w = try ParquetWriter(path: path, columns: columns, rowGroupRows: rowGroupRows)
        do {
            for f in large { try w.appendRowGroups(of: f.path) }
            for f in small { try w.appendRows(of: f.path) }
            let rows = w.rows
            let bytes = try w.close()
            return Merge(merged: ParquetTables.File(path: path, table: table, rows: rows, bytes: bytes), replaced: inputs.map(\.file))
        } catch {
            w.abandon()
            throw error
        }
    }

    /// After a checkpoint committed: its new files join the task's; its merges replace theirs
    /// (whose files are deleted now — a crash before that leaves them to the next start).
    func committed(_ files: [ParquetTables.File], merges: [Merge]) {
        for m in merges {
            for f in m.replaced where unlink(f.path) != 0 && errno != ENOENT {
                log("removing \(f.path) after its merge: \(String(cString: strerror(errno))) (the next start removes it)")
            }
        }
        lock.lock()
        defer { lock.unlock() }
        for m in merges {
            let gone = Set(m.replaced.map(\.path))
            let folder = Self.folder(m.merged.path)
            committed[folder, default: []].removeAll { gone.contains($0.path) }
            committed[folder, default: []].append(m.merged)
            merging.subtract(gone)
        }
        let replaced = Set(merges.flatMap { $0.replaced.map(\.path) })
        for f in files where f.path.hasPrefix(root + "/") && columns(of: f.table) != nil && !replaced.contains(f.path) {
            committed[Self.folder(f.path), default: []].append(f)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Domain
import Foundation
import Operators

/// File mode's derived events and dead letters: NDJSON part files under `derived/` and `dlq/`,
/// written under a temporary name, synced and renamed before the commit, named in its manifest.
final class PartFileSink: CheckpointSink {
    let dataDir: String
    let worker: Int

    init(dataDir: String, worker: Int) { self.dataDir = dataDir; self.worker = worker }

    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] {
        var derived: [String] = []
        for (_, results) in cut.outputs {
            for case .event(let d) in results { derived.append(d.json) }
        }
        var files: [ParquetTables.File] = []
        if let f = try writeLines(derived, dir: dataDir + "/derived", id: cut.id, kind: "derived") { files.append(f) }
        if let f = try writeLines(cut.dead.map(\.json), dir: dataDir + "/dlq", id: cut.id, kind: "dlq") { files.append(f) }
        return files
    }

    /// One part file, written under a temporary name, synced and renamed.
    func writeLines(_ lines: [String], dir: String, id: Int64, kind: String) throws -> ParquetTables.File? {
        guard !lines.isEmpty else { return nil }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/part-\(id)-\(worker).ndjson"
        let temp = "\(dir)/.tmp-part-\(id)-\(worker)-\(getpid())"
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ParquetError("cannot create \(temp): \(String(cString: strerror(errno)))") }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { Glibc.close(fd); throw ParquetError("write \(temp): \(String(cString: strerror(errno)))") }
            done += n
        }
        guard fsync(fd) == 0 else { Glibc.close(fd); throw ParquetError("fsync \(temp)") }
        Glibc.close(fd)
        guard rename(temp, path) == 0 else { throw ParquetError("rename to \(path): \(String(cString: strerror(errno)))") }
        return ParquetTables.File(path: path, table: kind, rows: Int64(lines.count), bytes: Int64(bytes.count))
    }
}

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
        // The lines formatted straight into the file's bytes (no String per line, no join).
        var derived: [UInt8] = [], count = 0
        for (_, results) in cut.outputs {
            for case .event(let d) in results {
                d.appendJSON(to: &derived)
                derived.append(0x0A)
                count += 1
            }
        }
        var dead: [UInt8] = []
        for d in cut.dead { dead.append(contentsOf: d.json.utf8); dead.append(0x0A) }
        var files: [ParquetTables.File] = []
        if let f = try writeLines(derived, count: count, dir: dataDir + "/derived", id: cut.id, kind: "derived") { files.append(f) }
        if let f = try writeLines(dead, count: cut.dead.count, dir: dataDir + "/dlq", id: cut.id, kind: "dlq") { files.append(f) }
        return files
    }

    /// One part file of `count` lines (`bytes`, each line ending in a newline), written under a
    /// temporary name, synced and renamed.
    func writeLines(_ bytes: [UInt8], count: Int, dir: String, id: Int64, kind: String) throws -> ParquetTables.File? {
        guard count > 0 else { return nil }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/part-\(id)-\(worker).ndjson"
        let temp = "\(dir)/.tmp-part-\(id)-\(worker)-\(getpid())"
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
        return ParquetTables.File(path: path, table: kind, rows: Int64(count), bytes: Int64(bytes.count))
    }
}

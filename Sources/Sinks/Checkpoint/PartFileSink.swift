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
    /// The operators whose derived events a kafka sink takes (its `inputs`): only theirs are
    /// written, as only theirs would go to Kafka.
    let derivedFrom: Set<String>
    /// Where dead letters go (the dead_letters sink's `path`, default `<dataDir>/dlq`).
    let deadLetterDir: String

    init(dataDir: String, worker: Int, derivedFrom: Set<String>, deadLetterDir: String? = nil) {
        self.dataDir = dataDir; self.worker = worker; self.derivedFrom = derivedFrom
        self.deadLetterDir = deadLetterDir ?? dataDir + "/dlq"
    }

    func prepare(_ cut: CheckpointCut) throws -> [ParquetTables.File] {
        // The lines formatted straight into the file's bytes (no String per line, no join), a
        // megabyte at a time: no buffer the size of the cut (12 MB a week's checkpoint, grown by
        // doubling and faulted in afresh every time).
        let derivedFile = LineFile(dir: dataDir + "/derived", id: cut.id, worker: worker, kind: "derived")
        defer { derivedFile.abandon() }
        for (name, results) in cut.outputs where derivedFrom.contains(name) {
            for case .event(let d) in results {
                try derivedFile.line { d.appendJSON(to: &$0) }
            }
        }
        let deadFile = LineFile(dir: deadLetterDir, id: cut.id, worker: worker, kind: "dlq")
        defer { deadFile.abandon() }
        for d in cut.dead { try deadFile.line { $0.append(contentsOf: d.json.utf8) } }
        return [try derivedFile.finish(), try deadFile.finish()].compactMap { $0 }
    }
}

/// One part file of NDJSON lines, created with its first line under a temporary name, written a
/// megabyte at a time, then synced and renamed by ``finish()``; nothing appears for no lines.
final class LineFile {
    let dir: String, path: String, temp: String, kind: String
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var count = 0, bytes = 0

    init(dir: String, id: Int64, worker: Int, kind: String) {
        self.dir = dir
        self.kind = kind
        path = "\(dir)/part-\(id)-\(worker).ndjson"
        temp = "\(dir)/.tmp-part-\(id)-\(worker)-\(getpid())"
    }

    /// Adds a line: `fill` appends its bytes (the newline is added here).
    func line(_ fill: (inout [UInt8]) -> Void) throws {
        if fd < 0 {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ParquetError("cannot create \(temp): \(String(cString: strerror(errno)))") }
            buffer.reserveCapacity(1 << 20 + 64 << 10)
        }
        fill(&buffer)
        buffer.append(0x0A)
        count += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try writeAll(fd, $0, name: temp) }
        bytes += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is left, syncs and renames; nil when no line was added.
    func finish() throws -> ParquetTables.File? {
        guard fd >= 0 else { return nil }
        try flush()
        guard fsync(fd) == 0 else { throw ParquetError("fsync \(temp)") }
        Glibc.close(fd)
        fd = -1
        guard rename(temp, path) == 0 else { throw ParquetError("rename to \(path): \(String(cString: strerror(errno)))") }
        return ParquetTables.File(path: path, table: kind, rows: Int64(count), bytes: Int64(bytes))
    }

    /// Gives up (after a failure): the temporary file goes. A no-op once finished.
    func abandon() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
        unlink(temp)
    }
}

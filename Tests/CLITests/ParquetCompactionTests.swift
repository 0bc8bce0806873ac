import Foundation
import Sinks
import Testing
import TestSupport

/// The parquet sink's `compact` (default on): once a UTC day is closed (the watermark past its end
/// by the allowed lateness), a task's part files of that day — one per checkpoint and table — are
/// merged into one, committed through the manifest like any file. The same rows either way (read
/// by DuckDB), far fewer files, nothing on disk the manifest does not name, and a restart finds
/// nothing to clean up.
@Suite(.serialized) struct ParquetCompactionTests {
    /// Parquet files per folder (`<table>/date=…`) under a data folder.
    static func filesPerFolder(_ dir: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for case let f as String in FileManager.default.enumerator(atPath: dir + "/parquet") ?? FileManager.default.enumerator(atPath: "/nonexistent")! where f.hasSuffix(".parquet") {
            out[(f as NSString).deletingLastPathComponent, default: 0] += 1
        }
        return out
    }

    @Test func closedDaysBecomeOneFileWithTheSameRows() throws {
        let (work, input) = try ExactlyOnceTests.scratch("compact", seed: 71, tenants: 3, days: 3, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        var yaml = try String(contentsOfFile: "Pipelines/analytics.yaml", encoding: .utf8)
        #expect(yaml.contains("    inputs: [dedupe, orders_per_hour]\n"))
        yaml = yaml.replacingOccurrences(of: "    inputs: [dedupe, orders_per_hour]\n", with: "    inputs: [dedupe, orders_per_hour]\n    compact: false\n")
        let keepAll = work + "/keep-all.yaml"
        try yaml.write(toFile: keepAll, atomically: true, encoding: .utf8)
        func replay(_ pipeline: String, _ url: String, _ dir: String) throws -> Finished {
            try runProcess(try wakalaBinary(), ["replay", "--pipeline", pipeline, "--input", input, "--sinks", "--postgres", url,
                                                "--data", dir, "--checkpoint-records", "2048", "--batch", "512"], timeout: 900)
        }
        let urlA = try TestDatabase.fresh("compact_a"), dirA = work + "/a"
        let urlB = try TestDatabase.fresh("compact_b"), dirB = work + "/b"
        let a = try replay("Pipelines/analytics.yaml", urlA, dirA)
        #expect(a.status == 0, "\(a.stderr)")
        let b = try replay(keepAll, urlB, dirB)
        #expect(b.status == 0, "\(b.stderr)")

        let sa = try ExactlyOnceTests.sinkState(dirA), sb = try ExactlyOnceTests.sinkState(dirB)
        #expect((sa["tables"] as? NSDictionary) == (sb["tables"] as? NSDictionary), "the same rows in every table")
        #expect(((sa["tables"] as? [String: [String: Any]])?["events"]?["rows"] as? Int ?? 0) > 20_000)
        let compacted = Self.filesPerFolder(dirA), kept = Self.filesPerFolder(dirB)
        #expect(Set(compacted.keys) == Set(kept.keys), "the same days and tables")
        #expect(kept.values.reduce(0, +) > 60, "\(kept)")
        // Each day's files merged; a second file at most where the last checkpoints overlapped.
        #expect(compacted.values.allSatisfy { $0 <= 2 }, "\(compacted)")
        #expect(compacted.values.reduce(0, +) * 4 < kept.values.reduce(0, +), "\(compacted.values.reduce(0, +)) vs \(kept.values.reduce(0, +)) files")
        for (dir, url) in [(dirA, urlA), (dirB, urlB)] {
            let o = try ExactlyOnceTests.orphans(dir, url)
            #expect(o.onDiskOnly.isEmpty && o.manifestOnly.isEmpty, "\(dir): \(o)")
        }

        // A restart redoes nothing: its one checkpoint (nothing left to read) only merges what
        // the last ones left side by side — the same rows, one file a day and table.
        let parquetBefore = (sa["files"] as? [String] ?? []).filter { !$0.hasPrefix("parquet/") }
        let again = try replay("Pipelines/analytics.yaml", urlA, dirA)
        #expect(again.status == 0, "\(again.stderr)")
        let after = try ExactlyOnceTests.sinkState(dirA)
        #expect((after["tables"] as? NSDictionary) == (sa["tables"] as? NSDictionary))
        let otherAfter = (after["files"] as? [String] ?? []).filter { !$0.hasPrefix("parquet/") }
        #expect(Set(otherAfter).isSuperset(of: parquetBefore), "the derived and dead-letter files stay")
        #expect(Self.filesPerFolder(dirA).values.allSatisfy { $0 == 1 }, "\(Self.filesPerFolder(dirA))")
        let o = try ExactlyOnceTests.orphans(dirA, urlA)
        #expect(o.onDiskOnly.isEmpty && o.manifestOnly.isEmpty, "\(o)")
    }

    /// SIGKILL while days close and their files merge — before a merge's commit, after it, while
    /// the replaced files are being deleted — then restarts: the same rows as an uninterrupted
    /// run, merged files among them, and no file the manifest does not name (nor a row without
    /// its file).
    @Test func sigkillWhileDaysAreMergedChangesNothing() throws {
        let (work, input) = try ExactlyOnceTests.scratch("compact-kill", seed: 73, tenants: 3, days: 4, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        // Kills spread over the whole run (38,385 records, a checkpoint every 1,024: ~9 a day), so
        // several land around the checkpoints that close a day and merge its files.
        let (urlA, dirA, urlB, dirB, seed) = try ExactlyOnceTests.uninterruptedAndKilled("compact_kill", input, work: work, kills: 8,
                                                                                         checkpointsApart: 2...6)
        let sa = try ExactlyOnceTests.sinkState(dirA), sb = try ExactlyOnceTests.sinkState(dirB)
        #expect((sa["tables"] as? NSDictionary) == (sb["tables"] as? NSDictionary), "seed \(seed)")
        let merged = (sb["files"] as? [String] ?? []).filter { $0.hasPrefix("parquet/") && (($0 as NSString).lastPathComponent.split(separator: "-").count == 4) }
        #expect(merged.count >= 6, "seed \(seed): merged files \(merged)")
        for (dir, url) in [(dirA, urlA), (dirB, urlB)] {
            let o = try ExactlyOnceTests.orphans(dir, url)
            #expect(o.onDiskOnly.isEmpty && o.manifestOnly.isEmpty, "seed \(seed), \(dir): \(o)")
        }
    }
}

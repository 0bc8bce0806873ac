import Domain
import Foundation
import Ingest
import Operators
import Testing
import TestSupport
@testable import Sinks
import Postgres

/// Incremental checkpoints (issue 15): a checkpoint writes the keyed entries changed since the
/// previous one — a small fraction of a full snapshot when few keys changed among many — and a
/// restart restores exactly the state that was checkpointed (its full snapshot byte for byte).
@Suite struct IncrementalCheckpointTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Raw records through the runner, offsets = positions.
    static func feed(_ r: PipelineRunner, _ slice: ArraySlice<[UInt8]>) {
        r.process(partition: 0, records: slice, firstOffset: Int64(slice.startIndex), now: 0)
    }

    /// A runner (retention on, as with sinks) restored by a checkpointer from `url` and `dir`.
    static func resumed(_ config: PipelineConfig, _ url: String, _ dir: String) throws -> (PipelineRunner, Checkpointer) {
        let r = try PipelineRunner(config: config, partitions: [0], now: 0)
        r.enableRetention(for: ["orders", "quotas", "deliveries", "rollups"])
        var s = Checkpointer.Settings(pipeline: "analytics", postgresURL: url, parquetDir: dir + "/parquet", dataDir: dir)
        s.partition = 0
        let c = Checkpointer(s, log: { _ in })
        _ = try c.resume(r)
        return (r, c)
    }

    @Test func aCheckpointWritesWhatChangedAndARestartRestoresAll() throws {
        let url = try TestDatabase.fresh("incremental")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-incr-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try PipelineConfig.load(path: Self.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        // Orders that stay open: every one is live state of the state machine and the rollups.
        var g = GeneratorConfig()
        g.seed = 77; g.tenants = 2; g.days = 12; g.ordersPerDay = 1200; g.ordersOnly = true; g.customers = 3000
        var gen = StreamGenerator(g)
        let records = gen.generateAll().map(\.value)
        let loaded = records.count - 200
        #expect(loaded > 15_000)

        func make() throws -> (PipelineRunner, Checkpointer) { try Self.resumed(config, url, dir) }
        let (a, ca) = try make()
        for start in stride(from: 0, to: loaded, by: 1000) {
            Self.feed(a, records[start..<min(loaded, start + 1000)])
            try ca.absorb(a)
            if start % 5000 == 4000 || start + 1000 >= loaded { try ca.checkpoint(a, offset: Int64(min(loaded, start + 1000))) }
        }
        try ca.finish()
        let live = Dictionary(uniqueKeysWithValues: a.counters)
        let liveKeys = live["orders.orders"]! + live["rollups.held_orders"]!
        #expect(liveKeys > 30_000, "\(live)")
        let db = try PGConnection(url: url)
        let rows = Int(try db.query("SELECT count(*) FROM wakala.state_entries WHERE operator IN ('orders', 'rollups') AND key NOT LIKE 'c %' AND key NOT LIKE 'r %' AND key NOT LIKE 'retired:%'").rows[0][0]!)!
        #expect(rows == liveKeys, "one row per live key")

        // 200 more orders: their keys (and a few first orders, buckets) are all it writes.
        Self.feed(a, records[loaded...])
        try ca.absorb(a)
        let full = try a.fullSnapshot().count
        try ca.checkpoint(a, offset: Int64(records.count))
        try ca.finish()
        #expect(ca.lastEntries >= 400 && ca.lastEntries <= 700, "\(ca.lastEntries) entries")
        // Under a tenth here (the un-keyed rest, e.g. dedupe's day of ids, weighs more beside 30,000
        // keys than beside 2,000,000: `wakala bench checkpoint` measures 4 % there).
        #expect(ca.lastStateBytes * 10 < full, "wrote \(ca.lastStateBytes) bytes; a full snapshot is \(full)")

        // A restart restores the same state from the rows and the small snapshot.
        let reference = try a.fullSnapshot()
        let (b, cb) = try make()
        #expect(cb.checkpointID == ca.checkpointID)
        #expect(cb.restoredEntries >= liveKeys)
        #expect(try b.fullSnapshot() == reference)
    }

    /// Orders that ended and left memory (retention) are remembered as retired keys; with
    /// incremental checkpoints those go out as runs — rows of their own, a few per operator, not
    /// every retired key in every snapshot — and a restart at any checkpoint restores the same
    /// state (its full snapshot byte for byte), retired keys included.
    @Test func retiredOrdersGoOutAsRunsAndComeBackAtEveryCheckpoint() throws {
        let url = try TestDatabase.fresh("incremental_retired")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-incr-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try PipelineConfig.load(path: Self.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        // Ended orders retire after the allowed lateness (10 min) instead of 7 days.
        for i in config.operators.indices { config.operators[i].params.removeAll { $0.0 == "retain_ended" } }
        var g = GeneratorConfig()
        g.seed = 23; g.tenants = 2; g.days = 3
        var gen = StreamGenerator(g)
        let records = gen.generateAll().map(\.value)
        #expect(records.count > 8_000)

        func make() throws -> (PipelineRunner, Checkpointer) { try Self.resumed(config, url, dir) }
        var (a, ca) = try make()
        let db = try PGConnection(url: url)
        var checkpoints = 0
        for start in stride(from: 0, to: records.count, by: 1500) {
            let end = min(records.count, start + 1500)
            Self.feed(a, records[start..<end])
            try ca.absorb(a)
            try ca.checkpoint(a, offset: Int64(end))
            try ca.finish()
            checkpoints += 1
            // A restart here: the same state, retired keys included.
            let reference = try a.fullSnapshot()
            let (b, cb) = try make()
            #expect(cb.checkpointID == ca.checkpointID)
            let restored = try b.fullSnapshot()
            let same = restored == reference
            #expect(same, "checkpoint \(checkpoints): \(same ? "" : Self.difference(restored, reference))")
            (a, ca) = (b, cb) // and it goes on from the restored one
        }
        let counters = Dictionary(uniqueKeysWithValues: a.counters)
        #expect(counters["orders.retired_orders"]! > 100, "\(counters)")
        #expect(counters["rollups.retired_orders"]! > 100, "\(counters)")
        let runs = Int(try db.query("SELECT count(*) FROM wakala.state_entries WHERE operator = 'orders' AND key LIKE 'retired:%'").rows[0][0]!)!
        let rollupRuns = Int(try db.query("SELECT count(*) FROM wakala.state_entries WHERE operator = 'rollups' AND key LIKE 'r %'").rows[0][0]!)!
        // A run per few checkpoints at most (runs of similar size merge), at least one.
        #expect(runs >= 1 && runs <= 2 * (Int.bitWidth - checkpoints.leadingZeroBitCount), "\(runs) runs in \(checkpoints) checkpoints")
        #expect(rollupRuns >= 1 && rollupRuns <= 2 * (Int.bitWidth - checkpoints.leadingZeroBitCount), "\(rollupRuns) runs")
        // No order row for a retired order: it left, its key is in a run.
        let orderRows = Int(try db.query("SELECT count(*) FROM wakala.state_entries WHERE operator = 'orders' AND key NOT LIKE 'retired:%'").rows[0][0]!)!
        #expect(orderRows == counters["orders.orders"]!)
    }

    /// Which operator's part of two pipeline snapshots differs, and from which byte.
    static func difference(_ x: [UInt8], _ y: [UInt8]) -> String {
        func parts(_ b: [UInt8]) -> [(String, [UInt8])] {
            guard let body = try? SnapshotEnvelope.open(operator: "pipeline:analytics", b) else { return [] }
            var r = SnapshotReader(body)
            var out: [(String, [UInt8])] = []
            _ = try? r.readInt64()
            for _ in 0..<((try? r.readInt()) ?? 0) { _ = try? r.readInt(); _ = try? r.readInt64(); _ = try? r.readInt64() }
            for _ in 0..<((try? r.readInt()) ?? 0) {
                guard let name = try? r.readString(), let n = try? r.readInt(), let bytes = try? r.readBytes(count: n) else { break }
                out.append((name, bytes))
            }
            return out
        }
        let a = parts(x), b = parts(y)
        for (p, q) in zip(a, b) where p.1 != q.1 {
            let at = (0..<min(p.1.count, q.1.count)).first { p.1[$0] != q.1[$0] } ?? min(p.1.count, q.1.count)
            return "\(p.0): \(p.1.count) vs \(q.1.count) bytes, first difference at byte \(at)"
        }
        return a.count == b.count ? "the operators agree; the header differs" : "\(a.count) vs \(b.count) operators"
    }
}

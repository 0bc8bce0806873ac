import Domain
import Foundation
import Ingest
import Operators
import Testing
import TestSupport
@testable import Sinks

/// Incremental checkpoints (issue 15): a checkpoint writes the keyed entries changed since the
/// previous one — a small fraction of a full snapshot when few keys changed among many — and a
/// restart restores exactly the state that was checkpointed (its full snapshot byte for byte).
@Suite struct IncrementalCheckpointTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Raw records through the runner, offsets = positions.
    static func feed(_ r: PipelineRunner, _ slice: ArraySlice<[UInt8]>) {
        r.process(partition: 0, records: slice, firstOffset: Int64(slice.startIndex), now: 0)
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

        func make() throws -> (PipelineRunner, Checkpointer) {
            let r = try PipelineRunner(config: config, partitions: [0], now: 0)
            r.enableRetention(for: ["orders", "quotas", "deliveries", "rollups"])
            var s = Checkpointer.Settings(pipeline: "analytics", postgresURL: url, parquetDir: dir + "/parquet", dataDir: dir)
            s.partition = 0
            let c = Checkpointer(s, log: { _ in })
            _ = try c.resume(r)
            return (r, c)
        }
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
        let rows = Int(try db.query("SELECT count(*) FROM wakala.state_entries WHERE operator IN ('orders', 'rollups') AND key NOT LIKE 'c %'").rows[0][0]!)!
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
}

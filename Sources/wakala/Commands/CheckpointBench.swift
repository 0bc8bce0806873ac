import ArgumentParser
import Domain
import Engine
import Foundation
import Ingest
import Operators
import Sinks

/// `wakala bench checkpoint`: incremental checkpoints with ≥ 1,000,000 live keys — what a
/// checkpoint writes after ~10,000 keys changed, against what a full snapshot of the same state
/// would be, and how long a restart takes to restore it, through the real `Checkpointer` and a
/// private Postgres.
struct CheckpointBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "checkpoint",
        abstract: "Incremental checkpoint size vs a full snapshot with ≥ 1 M live keys, and the restore time.",
        discussion: """
        Loads `--orders` open orders (generated, orders only: each stays pending, so every one is \
        live state of the order state machine and of the rollups) through Pipelines/analytics.yaml, \
        checkpointing every 200,000 records as a run does; then `--changed` more orders, one \
        checkpoint, whose bytes (snapshot + changed entries) are compared with a full snapshot of \
        the state at that cut; then a fresh runner restores from Postgres (timed) and its full \
        snapshot must equal the original's byte for byte.
        """)

    @Option(help: "Live orders to load (each is two keyed entries: the order and its rollup facts).") var orders: Int = 1_000_000
    @Option(help: "Orders added between the last two checkpoints.") var changed: Int = 10_000

    func run() throws {
        tuneMalloc()
        let scratch = try BenchScratch("checkpoint")
        defer { scratch.remove() }
        let dir = scratch.dir, pg = scratch.pg
        let url = try pg.createDatabase("bench")
        let config = try loadPipeline("Pipelines/analytics.yaml")

        // The stream: one tenant's orders (order.created only), enough for orders + changed.
        var g = GeneratorConfig()
        g.seed = 31; g.tenants = 1; g.ordersOnly = true; g.customers = 100_000
        g.ordersPerDay = 3500; g.days = max(1, (orders + changed) / 2500 + 2)
        var gen = StreamGenerator(g)
        var records: [[UInt8]] = []
        records.reserveCapacity(orders + changed + 16)
        gen.generate { r in if records.count < orders + changed + 1 { records.append(r.value) } }
        guard records.count > orders + changed else { throw RuntimeFailure("the generator gave only \(records.count) records") }

        func runner() throws -> (PipelineRunner, Checkpointer) {
            let r = try PipelineRunner(config: config, partitions: [0], now: 0)
            let plan = SinkPlan(config)
            plan.apply(to: r)
            let c = Checkpointer(plan.checkpointer(pipeline: config.name, postgresURL: url, dataDir: dir + "/data", task: 0), log: { note("bench checkpoint: \($0)") })
            _ = try c.resume(r)
            return (r, c)
        }
        func feed(_ r: PipelineRunner, _ slice: ArraySlice<[UInt8]>, first: Int) {
            r.process(partition: 0, records: slice, firstOffset: Int64(first), now: 0)
        }
        let (a, ca) = try runner()
        var t0 = monotonicSeconds()
        var since = 0
        for start in stride(from: 0, to: orders, by: 4096) {
            let end = min(orders, start + 4096)
            feed(a, records[start..<end], first: start)
            try ca.absorb(a)
            since += end - start
            if since >= config.checkpointMaxRecords || end == orders {
                try ca.checkpoint(a, offset: Int64(end))
                since = 0
            }
        }
        try ca.finish()
        note(String(format: "bench checkpoint: loaded %d orders in %.1f s (%d checkpoints)", orders, monotonicSeconds() - t0, ca.checkpointID))
        let counters = Dictionary(uniqueKeysWithValues: a.counters)
        let live = (counters["orders.orders"] ?? 0) + (counters["rollups.held_orders"] ?? 0)

        // ~10,000 changes, one checkpoint: what it writes vs a full snapshot of the same cut.
        feed(a, records[orders..<(orders + changed)], first: orders)
        try ca.absorb(a)
        let full = try a.fullSnapshot().count
        t0 = monotonicSeconds()
        try ca.checkpoint(a, offset: Int64(orders + changed))
        try ca.finish()
        let checkpointSeconds = monotonicSeconds() - t0
        let incremental = ca.lastStateBytes, entries = ca.lastEntries
        let reference = try a.fullSnapshot()

        // A restart: a fresh runner restores from Postgres.
        let (b, cb) = try runner()
        let same = try b.fullSnapshot() == reference
        print("live keyed entries (orders + rollup facts): \(live)")
        print("keys changed by the last \(changed) records: \(entries) entries")
        print(String(format: "last checkpoint wrote %d bytes (snapshot + changed entries) in %.2f s; a full snapshot of the same state: %d bytes → %.2f %%",
                     incremental, checkpointSeconds, full, 100 * Double(incremental) / Double(max(1, full))))
        print(String(format: "restore: %d entries in %.2f s; restored state equals the original: %@", cb.restoredEntries, cb.restoreSeconds, same ? "yes" : "NO"))
        guard same else { throw RuntimeFailure("the restored state differs from the checkpointed one") }
    }
}

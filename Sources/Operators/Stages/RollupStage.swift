import Domain

/// `rollup`: per-tenant hourly/daily rollups (``Rollups``). A bounded input emits every bucket
/// at its end (tables `rollup_hourly`, `rollup_daily`, `rollup_products`, `rollup_payments`,
/// `rollup_deliveries`, `rollup_messages`); on a stream the read model is written at checkpoints.
public final class RollupStage: IncrementalStage {
    public let name: String
    var rollups: Rollups

    /// `zone`: one zone for every tenant's buckets; nil: each tenant's own (`timezone: tenant`).
    public init(name: String, granularities: [Rollups.Granularity], allowedLateness: Int64, ownStateMachine: Bool = true,
                zone: TenantZone? = nil) {
        self.name = name
        rollups = Rollups(granularities: granularities, allowedLateness: allowedLateness, ownStateMachine: ownStateMachine)
        rollups.fixedZone = zone
    }

    public func take(_ derived: [DerivedEvent]) { rollups.take(statusChanges: derived) }

    public func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput) { rollups.process(batch) }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        rollups.advance(to: watermark)
        if watermark == WatermarkTracker.end { out.rows = rollups.rows() }
    }

    public var counters: [(String, Int)] {
        [("buckets", rollups.sales.count), ("held_orders", rollups.orders.count), ("retired_orders", rollups.retiredOrders.count)]
    }

    public func snapshot() throws -> [UInt8] { try rollups.snapshot() }
    public func restore(_ bytes: [UInt8]) throws { try rollups.restore(bytes) }
    public func trackEntries() { rollups.tracksEntries = true }
    public func includeEntriesInSnapshot(_ on: Bool) { rollups.tracksEntries = !on }
    public func changedEntries() throws -> [StateEntry] { try rollups.changedEntries() }
    public func restoreEntries(_ entries: [StateEntry]) throws { try rollups.restoreEntries(entries) }

    public func drainReadModel() -> [ReadModelRow] { rollups.drainReadModel() }

    public func enableRetention() {
        rollups.retention = true
        rollups.lifecycle?.retention = true
    }

    /// With its own state machine: events of the orders that machine retired.
    public func retiredEvents(in batch: [Timestamped<Event>]) -> [Int] { rollups.lifecycle?.retiredEvents(in: batch) ?? [] }
}

import Domain

/// `window_aggregate`: counts (and sums a money field of) the events of the given types per key
/// and window, in the tenant's timezone or a fixed one. Rows: key, window_start, window_end,
/// count, sum (when configured), update (a re-firing within the allowed lateness).
public final class WindowAggregateStage: Stage {
    public let name: String
    let key: EventField
    let sum: MoneyField?
    let types: EventTypeSet?
    /// Align each tenant's windows to its timezone (learnt from `tenant.created`).
    let perTenantZone: Bool
    var op: WindowAggregator<String, CountSum>
    var batch: [Timestamped<Keyed<String, Int64>>] = []
    var late: [Timestamped<Keyed<String, Int64>>] = []
    var results: [WindowResult<String, CountSum.State>] = []
    /// A postgres sink takes this operator's rows (``enableRetention()``): they wait here for the
    /// next checkpoint's ``drainReadModel()``, as rows of table ``table``.
    var keepsReadModel = false
    var readModel: [OutputRow] = []
    /// The Postgres table and Parquet folder of its rows (`output`, default the operator's name).
    public let table: String
    /// Whether rows carry `sum` (a money field is summed).
    public var sums: Bool { sum != nil }

    public init(name: String, key: EventField, sum: MoneyField?, types: EventTypeSet?, window: WindowSpec,
                timezone: String?, allowedLateness: Int64, table: String? = nil) {
        self.name = name
        self.table = table ?? name
        self.key = key
        self.sum = sum
        self.types = types
        perTenantZone = timezone == "tenant"
        let zone = timezone.flatMap { $0 == "tenant" ? nil : TenantZone(identifier: $0) } ?? .johannesburg
        op = WindowAggregator(name: name, spec: window, allowedLateness: allowedLateness, zone: zone, aggregation: CountSum())
    }

    public func process(_ events: consuming [Timestamped<Event>], into out: inout StageOutput) {
        batch.removeAll(keepingCapacity: true)
        // Only the events it counts (and, per tenant zone, `tenant.created`) are copied out.
        var taken = types
        if perTenantZone, taken != nil { taken!.insert(.tenantCreated) }
        events.forEach(of: taken) { r in
            if perTenantZone, r.value.type == .tenantCreated, case .tenantCreated(let t) = r.value.payload, let z = TenantZone(identifier: t.timezone) {
                op.setZone(z, for: r.value.tenantID)
            }
            guard types?.contains(r.value.type) ?? true, let k = key.text(of: r.value) else { return }
            let amount = sum.flatMap { $0.cents(of: r.value) } ?? 0
            batch.append(Timestamped(time: r.time, value: Keyed(key: k, value: amount)))
        }
        results.removeAll(keepingCapacity: true)
        op.process(batch, late: &late, out: &results)
        emit(into: &out)
    }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        results.removeAll(keepingCapacity: true)
        op.advance(to: watermark, out: &results)
        emit(into: &out)
    }

    private func emit(into out: inout StageOutput) {
        for r in results {
            var f: [(String, OutputValue)] = [("key", .string(r.key)), ("window_start", .time(r.window.start)),
                                              ("window_end", .time(r.window.end)), ("count", .int(r.value.count))]
            if sum != nil { f.append(("sum", .int(r.value.sum))) }
            if keepsReadModel { readModel.append(OutputRow(f)) } // the latest values per key and window: an upsert
            f.append(("update", .bool(r.isUpdate)))
            out.rows.append(OutputRow(f))
        }
    }

    /// Rows emitted since the last call, for the table named ``table`` (primary key: key,
    /// window_start, window_end; a re-firing replaces its window's row).
    public func drainReadModel() -> [ReadModelRow] {
        defer { readModel.removeAll(keepingCapacity: true) }
        return readModel.map { ReadModelRow(table: table, row: $0) }
    }

    public func enableRetention() { keepsReadModel = true }

    public var counters: [(String, Int)] { [("open_windows", op.openWindows), ("late", op.lateCount)] }

    public func snapshot() throws -> [UInt8] { try op.snapshot() }
    public func restore(_ bytes: [UInt8]) throws { try op.restore(bytes) }
}

import Domain

/// `order_lifecycle`: the order state machine and saga (``OrderLifecycle``); its rows are the
/// derived events (`order.status_changed`, `order.transition_rejected`,
/// `order.compensation_requested`) as envelope fields plus `data.<field>`.
public final class OrderLifecycleStage: IncrementalStage {
    public let name: String
    var lifecycle: OrderLifecycle

    public init(name: String, allowedLateness: Int64, holdUnknownOrders: Bool = true) {
        self.name = name
        lifecycle = OrderLifecycle(allowedLateness: allowedLateness, holdUnknownOrders: holdUnknownOrders)
    }

    public func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput) {
        lifecycle.process(batch)
    }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        let derived = lifecycle.advance(to: watermark)
        for d in derived where d.type == "order.transition_rejected" { rejections.append(Self.rejectionRow(d)) }
        out.derived += derived
    }

    /// `order_transition_rejections` rows of the rejections emitted since the last drain.
    var rejections: [ReadModelRow] = []

    /// The read-model row of an `order.transition_rejected` (CONTRACT §3.3).
    static func rejectionRow(_ d: DerivedEvent) -> ReadModelRow {
        let f = Dictionary(d.data, uniquingKeysWith: { a, _ in a })
        return ReadModelRow("order_transition_rejections", [
            ("event_id", .string(d.eventID)), ("tenant_id", .string(d.tenantID)), ("order_id", f["order_id"] ?? .null),
            ("state", f["state"] ?? .null), ("event_type", f["event_type"] ?? .null),
            ("rejected_event_id", f["event_id"] ?? .null), ("reason", f["reason"] ?? .null), ("at", .time(d.time)),
        ])
    }

    public var counters: [(String, Int)] {
        [("orders", lifecycle.orders.count), ("retired_orders", lifecycle.retired.count), ("transitions", lifecycle.transitions), ("rejections", lifecycle.rejections),
         ("compensations", lifecycle.compensations)]
    }

    public func snapshot() throws -> [UInt8] { try lifecycle.snapshot() }
    public func restore(_ bytes: [UInt8]) throws { try lifecycle.restore(bytes) }
    public func trackEntries() { lifecycle.tracksEntries = true }
    public func includeEntriesInSnapshot(_ on: Bool) { lifecycle.tracksEntries = !on }
    public func changedEntries() throws -> [StateEntry] { try lifecycle.changedEntries() }
    public func restoreEntries(_ entries: [StateEntry]) throws { try lifecycle.restoreEntries(entries) }

    public func enableRetention() { lifecycle.retention = true }
    public func retiredEvents(in batch: [Timestamped<Event>]) -> [Int] { lifecycle.retiredEvents(in: batch) }

    public func drainReadModel() -> [ReadModelRow] {
        defer { rejections.removeAll() }
        return lifecycle.drainReadModel() + rejections
    }
}

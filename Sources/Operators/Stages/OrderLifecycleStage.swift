import Domain

/// `order_lifecycle`: the order state machine and saga (``OrderLifecycle``); its rows are the
/// derived events (`order.status_changed`, `order.transition_rejected`,
/// `order.compensation_requested`) as envelope fields plus `data.<field>`.
public final class OrderLifecycleStage: Stage {
    public let name: String
    var lifecycle: OrderLifecycle

    public init(name: String, allowedLateness: Int64) {
        self.name = name
        lifecycle = OrderLifecycle(allowedLateness: allowedLateness)
    }

    public func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput) {
        lifecycle.process(batch)
    }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        out.derived += lifecycle.advance(to: watermark)
    }

    public var counters: [(String, Int)] {
        [("orders", lifecycle.orders.count), ("transitions", lifecycle.transitions), ("rejections", lifecycle.rejections),
         ("compensations", lifecycle.compensations)]
    }

    public func snapshot() throws -> [UInt8] { try lifecycle.snapshot() }
    public func restore(_ bytes: [UInt8]) throws { try lifecycle.restore(bytes) }

    public func drainReadModel() -> [ReadModelRow] { lifecycle.drainReadModel() }
}

import Domain

/// `quota`: per-tenant quota tracking (``QuotaTracker``); rows are `quota.warning` and
/// `quota.exceeded` derived events.
public final class QuotaStage: Stage {
    public let name: String
    var tracker: QuotaTracker

    public init(name: String, softLimitPercent: Int64 = QuotaResource.softLimitPercent) {
        self.name = name
        tracker = QuotaTracker(softLimitPercent: softLimitPercent)
    }

    public func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput) { tracker.process(batch) }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        out.derived += tracker.advance(to: watermark)
    }

    public var counters: [(String, Int)] { [("warnings", tracker.warnings), ("exceeded", tracker.exceedances)] }

    public func snapshot() throws -> [UInt8] { try tracker.snapshot() }
    public func restore(_ bytes: [UInt8]) throws { try tracker.restore(bytes) }

    public func drainReadModel() -> [ReadModelRow] { tracker.drainReadModel() }
}

import Domain

/// `quota`: per-tenant quota tracking (``QuotaTracker``); rows are `quota.warning` and
/// `quota.exceeded` derived events.
public final class QuotaStage: Stage {
    public let name: String
    var tracker = QuotaTracker()

    public init(name: String) { self.name = name }

    public func process(_ batch: [Timestamped<Event>], into out: inout StageOutput) { tracker.process(batch) }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        for d in tracker.advance(to: watermark) { out.rows.append(d.row) }
    }

    public var counters: [(String, Int)] { [("warnings", tracker.warnings), ("exceeded", tracker.exceedances)] }

    /// As with the lifecycle, held events need writing out first (issue 5); fail loudly until then.
    public func snapshot() throws -> [UInt8] {
        throw SnapshotError.corrupt("operator \(name) (quota) cannot be snapshotted yet")
    }

    public func restore(_ bytes: [UInt8]) throws {
        throw SnapshotError.corrupt("operator \(name) (quota) cannot be restored yet")
    }
}

import Domain

/// `delivery_eta`: delivery tracking, ETA, geofences and route deviation (``DeliveryTracker``).
/// Reads delivery events from `input` and driver locations from `locations` (the runner hands it
/// only those types from each).
///
/// Incremental checkpoints: the held events (driver locations and delivery events waiting for the
/// watermark) go out once each, as segments of what arrived since the last checkpoint
/// (``DeliveryTracker/changedSegments()``); the snapshot keeps the deliveries.
public final class DeliveryStage: IncrementalStage {
    public let name: String
    var tracker: DeliveryTracker

    public init(name: String, settings: DeliveryTracker.Settings) {
        self.name = name
        tracker = DeliveryTracker(settings: settings)
    }

    public func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput) { tracker.process(batch) }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        out.derived += tracker.advance(to: watermark)
    }

    public var counters: [(String, Int)] {
        [("active_deliveries", tracker.activeCount), ("held_events", tracker.pending.count), ("eta_updates", tracker.etaUpdates),
         ("deviations", tracker.deviations)]
    }

    private var fullSnapshot = false
    public func snapshot() throws -> [UInt8] { try tracker.snapshot(full: fullSnapshot) }
    public func restore(_ bytes: [UInt8]) throws { try tracker.restore(bytes) }

    public func trackEntries() {
        tracker.segmented = true
        tracker.unwritten = tracker.pending.events
    }
    public func includeEntriesInSnapshot(_ on: Bool) { fullSnapshot = on }
    public func changedEntries() throws -> [StateEntry] { tracker.segmented ? try tracker.changedSegments() : [] }
    public func restoreEntries(_ entries: [StateEntry]) throws { try tracker.restoreSegments(entries) }

    public func drainReadModel() -> [ReadModelRow] { tracker.drainReadModel() }
}

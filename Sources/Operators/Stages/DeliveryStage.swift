import Domain

/// `delivery_eta`: delivery tracking, ETA, geofences and route deviation (``DeliveryTracker``).
/// Reads delivery events from `input` and driver locations from `locations` (the runner hands it
/// only those types from each).
public final class DeliveryStage: Stage {
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
        [("active_deliveries", tracker.activeCount), ("eta_updates", tracker.etaUpdates), ("deviations", tracker.deviations)]
    }

    public func snapshot() throws -> [UInt8] { try tracker.snapshot() }
    public func restore(_ bytes: [UInt8]) throws { try tracker.restore(bytes) }

    public func drainReadModel() -> [ReadModelRow] { tracker.drainReadModel() }
}

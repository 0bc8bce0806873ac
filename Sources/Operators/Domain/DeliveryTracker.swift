import Domain

/// Delivery tracking and ETA (CONTRACT §2.4). A delivery is tracked from `delivery.assigned`
/// until completed or cancelled. On each `driver.location_updated`, for each active delivery of
/// that driver: remaining distance = haversine(location, pickup) + haversine(pickup, dropoff)
/// before pick-up, haversine(location, dropoff) after; speed = `speed_mps` if ≥ 1.0 else 25 km/h;
/// ETA = event time + remaining / speed. `delivery.eta_updated` is emitted when there was no ETA
/// yet or it moved by more than 300 s from the last one emitted. Geofences of 50 m give
/// `delivery.arrived_at_pickup` (while assigned) and `delivery.arrived_at_dropoff` (while picked
/// up), each once; `delivery.route_deviation` when the cross-track distance from the
/// pickup→dropoff great circle exceeds 1000 m while picked up, once per excursion.
///
/// Locations and deliveries are joined across keys (driver, delivery), so all events are applied
/// in one event-time order (ties: `event_id`) once the watermark passes them.
public struct DeliveryTracker {
    public struct Settings: Sendable {
        public var geofenceMeters = 50.0
        public var deviationMeters = 1000.0
        public var etaChangeMillis: Int64 = 300_000
        /// 25 km/h in m/s.
        public var fallbackSpeed = 25_000.0 / 3600
        public init() {}
    }

    public enum Status: String, Sendable { case assigned, pickedUp = "picked_up" }

    public struct Delivery: Sendable {
        public var deliveryID: String
        public var orderID: String
        public var driverID: String
        public var tenantID: String
        public var pickup: GeoPoint
        public var dropoff: GeoPoint
        public var status: Status = .assigned
        public var eta: EpochMillis?
        public var lastLocation: GeoPoint?
        var arrivedPickup = false
        var arrivedDropoff = false
        var deviating = false
        var correlationID: String?
        /// Changed since the last read-model drain (a flag, not a set: fixes are most events).
        var changed = true
        /// Fixed for the delivery: pickup and dropoff as unit vectors, the distance between them
        /// and the route's great-circle normal (nil when pickup and dropoff coincide).
        let pickupVector: SIMD3<Double>, dropoffVector: SIMD3<Double>
        let route: Double
        let normal: SIMD3<Double>?

        init(deliveryID: String, orderID: String, driverID: String, tenantID: String, pickup: GeoPoint, dropoff: GeoPoint,
             correlationID: String? = nil) {
            self.deliveryID = deliveryID; self.orderID = orderID; self.driverID = driverID; self.tenantID = tenantID
            self.pickup = pickup; self.dropoff = dropoff; self.correlationID = correlationID
            pickupVector = pickup.unitVector
            dropoffVector = dropoff.unitVector
            route = GeoPoint.distance(pickupVector, dropoffVector)
            normal = GeoPoint.greatCircleNormal(pickup, dropoff)
        }
    }

    public let settings: Settings
    /// Active deliveries per driver, in assignment order (a fix costs one lookup).
    var byDriver: [FastKey: [Delivery]] = [:]
    /// tenant + delivery id (``key(_:_:)``) → driver, for the delivery's own events: two
    /// tenants' equal delivery ids are two deliveries.
    var driverOf: [String: String] = [:]
    /// Deliveries that ended since the last ``drainReadModel()``, with their last state (active
    /// ones carry a `changed` flag).
    var ended: [String: (delivery: Delivery, status: String, at: EpochMillis)] = [:]
    var pending = HeldEvents()
    public internal(set) var watermark = WatermarkTracker.start
    /// Incremental checkpoints (``changedSegments()``): the held events go out once each, in
    /// segments, instead of in every snapshot — a Kafka backfill holds hours of driver locations
    /// while the slowest task's watermark catches up.
    var segmented = false
    /// Events held since the last ``changedSegments()`` (the same events `pending` holds), less
    /// those an advance took — dropped when the list has doubled since it was last trimmed, so
    /// taken events are not kept alive until the next checkpoint.
    var unwritten: [Timestamped<Event>] = []
    var trimAt = 1024, trimFloor = 1024
    /// Segments written and not yet passed by the watermark: number and latest event time.
    var segments: [(number: Int, latest: EpochMillis)] = []
    var nextSegment = 0
    public internal(set) var etaUpdates = 0, deviations = 0

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// Deliveries being tracked.
    public var activeCount: Int { driverOf.count }

    /// The tracked delivery with this tenant and id.
    public func delivery(_ tenant: String, _ id: String) -> Delivery? {
        driverOf[Self.key(tenant, id)].flatMap { byDriver[FastKey($0)]?.first { $0.deliveryID == id && $0.tenantID == tenant } }
    }

    /// A delivery's key in `driverOf` and `ended`: its tenant and id.
    static func key(_ tenant: String, _ id: String) -> String { tenant + "\u{1F}" + id }

    /// Buffers delivery events and driver locations.
    public mutating func process(_ batch: [Timestamped<Event>]) {
        batch.forEach(of: Self.types) {
            pending.append($0)
            if segmented { unwritten.append($0) }
        }
    }

    static let types: EventTypeSet = [.deliveryAssigned, .deliveryPickedUp, .deliveryCompleted, .deliveryCancelled, .driverLocationUpdated]

    /// Applies what the watermark has passed, in (time, event_id) order; returns derived events.
    public mutating func advance(to wm: EpochMillis) -> [DerivedEvent] {
        guard wm > watermark, !pending.isEmpty else { watermark = max(watermark, wm); return [] }
        watermark = wm
        var out: [DerivedEvent] = []
        pending.takeDue(wm).drainPrefetching { apply($0.value, &out) }
        if unwritten.count >= trimAt {
            unwritten.removeAll { $0.time <= wm } // taken just now: every held event at or before wm
            trimAt = max(trimFloor, unwritten.count * 2)
        }
        return out
    }

    private mutating func apply(_ e: Event, _ out: inout [DerivedEvent]) {
        switch e.payload {
        case .deliveryAssigned(let a):
            stop(e.tenantID, a.deliveryID, status: "reassigned", at: e.time) // assigned again: tracked afresh
            ended[Self.key(e.tenantID, a.deliveryID)] = nil
            byDriver[FastKey(a.driverID), default: []].append(Delivery(deliveryID: a.deliveryID, orderID: a.orderID, driverID: a.driverID,
                                                              tenantID: e.tenantID, pickup: a.pickup, dropoff: a.dropoff,
                                                              correlationID: e.correlationID))
            driverOf[Self.key(e.tenantID, a.deliveryID)] = a.driverID
        case .deliveryPickedUp(let p):
            guard let driver = driverOf[Self.key(e.tenantID, p.deliveryID)], let i = byDriver.index(forKey: FastKey(driver)),
                  let j = byDriver.values[i].firstIndex(where: { $0.deliveryID == p.deliveryID && $0.tenantID == e.tenantID }) else { return }
            byDriver.values[i][j].status = .pickedUp
            byDriver.values[i][j].changed = true
        case .deliveryCompleted(let c):
            stop(e.tenantID, c.deliveryID, status: "completed", at: e.time)
        case .deliveryCancelled(let c):
            stop(e.tenantID, c.deliveryID, status: "cancelled", at: e.time)
        case .driverLocationUpdated(let l):
            guard let i = byDriver.index(forKey: FastKey(l.driverID)) else { return }
            // Mutated in place: one hash lookup per fix.
            let fix = Fix(here: l.location, vector: l.location.unitVector, speed: l.speedMps, time: e.time, cause: e.eventID)
            for j in byDriver.values[i].indices {
                Self.step(&byDriver.values[i][j], fix, settings, &out, etaUpdates: &etaUpdates, deviations: &deviations)
            }
        default:
            break
        }
    }

    private mutating func stop(_ tenant: String, _ id: String, status: String, at: EpochMillis) {
        let key = Self.key(tenant, id)
        guard let driver = driverOf.removeValue(forKey: key).map({ FastKey($0) }) else { return }
        if let d = byDriver[driver]?.first(where: { $0.deliveryID == id && $0.tenantID == tenant }) { ended[key] = (d, status, at) }
        byDriver[driver]?.removeAll { $0.deliveryID == id && $0.tenantID == tenant }
        if byDriver[driver]?.isEmpty == true { byDriver[driver] = nil }
    }

    /// One driver fix, with what every delivery of the driver needs from it.
    struct Fix {
        var here: GeoPoint
        /// `here` as a unit vector: its distances and cross-track are taken from it.
        var vector: SIMD3<Double>
        var speed: Double?
        var time: EpochMillis
        var cause: String
    }

    private static func step(_ d: inout Delivery, _ f: Fix, _ settings: Settings, _ out: inout [DerivedEvent],
                             etaUpdates: inout Int, deviations: inout Int) {
        let here = f.here
        d.lastLocation = here
        d.changed = true
        let assigned = d.status == .assigned
        let toPickup = assigned ? GeoPoint.distance(f.vector, d.pickupVector) : 0
        let toDropoff = assigned ? 0 : GeoPoint.distance(f.vector, d.dropoffVector)
        let remaining = assigned ? toPickup + d.route : toDropoff
        let speed = (f.speed ?? 0) >= 1.0 ? f.speed! : settings.fallbackSpeed
        let eta = f.time + Int64((remaining / speed * 1000).rounded())
        // Each derived event's data is one array literal: the ids it starts with, then its own
        // fields (one allocation; a `KeyValuePairs` of the extra fields appended to the ids was
        // built and destroyed through generic value witnesses, ~800 instructions an event).
        func ids() -> ((String, OutputValue), (String, OutputValue), (String, OutputValue)) {
            (("delivery_id", .string(d.deliveryID)), ("order_id", .string(d.orderID)), ("driver_id", .string(d.driverID)))
        }
        func derived(_ type: String, _ data: [(String, OutputValue)]) -> DerivedEvent {
            DerivedEvent(type: type, time: f.time, tenantID: d.tenantID, causationID: f.cause, correlationID: d.correlationID, data: data)
        }
        if d.eta == nil || abs(eta - d.eta!) > settings.etaChangeMillis {
            let (a, b, c) = ids()
            out.append(derived("delivery.eta_updated", [a, b, c, ("eta", .time(eta)), ("previous_eta", d.eta.map { .time($0) } ?? .null),
                                                        ("distance_remaining_m", .int(Int64(remaining.rounded())))]))
            etaUpdates += 1
            d.eta = eta
        }
        if assigned, !d.arrivedPickup, toPickup <= settings.geofenceMeters {
            d.arrivedPickup = true
            let (a, b, c) = ids()
            out.append(derived("delivery.arrived_at_pickup", [a, b, c]))
        }
        if d.status == .pickedUp {
            if !d.arrivedDropoff, toDropoff <= settings.geofenceMeters {
                d.arrivedDropoff = true
                let (a, b, c) = ids()
                out.append(derived("delivery.arrived_at_dropoff", [a, b, c]))
            }
            let off = d.normal.map { GeoPoint.crossTrackDistance(f.vector, normal: $0) } ?? here.crossTrackDistance(start: d.pickup, end: d.dropoff)
            if off > settings.deviationMeters {
                if !d.deviating {
                    d.deviating = true
                    let (a, b, c) = ids()
                    out.append(derived("delivery.route_deviation", [a, b, c, ("cross_track_m", .int(Int64(off.rounded())))]))
                    deviations += 1
                }
            } else {
                d.deviating = false
            }
        }
    }

    /// `deliveries` rows of the deliveries changed since the last call.
    public mutating func drainReadModel() -> [ReadModelRow] {
        var changed: [String: (Delivery, String)] = [:]
        for (id, e) in ended { changed[id] = (e.delivery, e.status) }
        for i in byDriver.values.indices {
            for j in byDriver.values[i].indices where byDriver.values[i][j].changed {
                let d = byDriver.values[i][j]
                changed[Self.key(d.tenantID, d.deliveryID)] = (d, d.status.rawValue)
                byDriver.values[i][j].changed = false
            }
        }
        ended.removeAll()
        var out: [ReadModelRow] = []
        for id in changed.keys.sorted() {
            let (d, status) = changed[id]!
            out.append(ReadModelRow("deliveries", [
                ("delivery_id", .string(d.deliveryID)), ("tenant_id", .string(d.tenantID)), ("order_id", .string(d.orderID)),
                ("driver_id", .string(d.driverID)), ("status", .string(status)),
                ("eta", d.eta.map { .time($0) } ?? .null),
                ("last_lat", d.lastLocation.map { .number(String($0.lat)) } ?? .null),
                ("last_lng", d.lastLocation.map { .number(String($0.lng)) } ?? .null),
            ]))
        }
        return out
    }
}

import Domain
import Testing
@testable import Operators

/// Geometry on the equator so distances are worked by hand: one degree of arc is
/// 6 371 008.8 × π / 180 = 111 195.08 m. Pickup (0, 0), dropoff (0, 0.1): 11 119.51 m apart.
enum D {
    static let t0 = ms("2026-03-01T10:00:00Z")
    static func at(_ s: Int) -> EpochMillis { t0 + Int64(s) * 1000 }
    static func e(_ id: String, _ s: Int, _ type: EventType, _ payload: Payload, tenant: String = "t") -> Timestamped<Event> {
        Timestamped(time: at(s), value: Event(eventID: id, type: type, time: at(s), tenantID: tenant, payload: payload))
    }
    static func assigned(_ s: Int, id: String = "d1", driver: String = "drv") -> Timestamped<Event> {
        e("a-\(id)", s, .deliveryAssigned, .deliveryAssigned(DeliveryAssigned(deliveryID: id, orderID: "o-\(id)", driverID: driver,
                                                                              pickup: GeoPoint(lat: 0, lng: 0), dropoff: GeoPoint(lat: 0, lng: 0.1))))
    }
    static func pickedUp(_ s: Int, id: String = "d1") -> Timestamped<Event> {
        e("p-\(id)", s, .deliveryPickedUp, .deliveryPickedUp(DeliveryPickedUp(deliveryID: id, driverID: "drv")))
    }
    static func completed(_ s: Int, id: String = "d1") -> Timestamped<Event> {
        e("c-\(id)", s, .deliveryCompleted, .deliveryCompleted(DeliveryCompleted(deliveryID: id, driverID: "drv")))
    }
    static func loc(_ s: Int, _ lat: Double, _ lng: Double, speed: Double? = 10, driver: String = "drv") -> Timestamped<Event> {
        e("l\(s)", s, .driverLocationUpdated, .driverLocationUpdated(DriverLocationUpdated(driverID: driver, location: GeoPoint(lat: lat, lng: lng), speedMps: speed)), tenant: "platform")
    }
    static func run(_ events: [Timestamped<Event>]) -> [DerivedEvent] {
        var t = DeliveryTracker()
        t.process(events)
        return t.advance(to: WatermarkTracker.end)
    }
    static func f(_ d: DerivedEvent, _ k: String) -> String { d.data.first { $0.0 == k }!.1.description }
}

@Suite struct DeliveryTrackerTests {
    @Test func etaAndThe300SecondRule() {
        let out = D.run([D.assigned(0), D.loc(0, 0, -0.01), D.loc(60, 0, -0.005), D.loc(120, 0, -0.004, speed: 0.5)])
        #expect(out.map(\.type) == ["delivery.eta_updated", "delivery.eta_updated"])
        // At 10:00:00, 1 111.95 m to the pickup + 11 119.51 m to the dropoff = 12 231.46 m at 10 m/s
        // → 1 223.146 s → 10:20:23.146.
        #expect(D.f(out[0], "eta") == "2026-03-01T10:20:23.146Z")
        #expect(D.f(out[0], "previous_eta") == "null")
        #expect(D.f(out[0], "distance_remaining_m") == "12231")
        #expect(out[0].tenantID == "t") // the delivery's tenant, not the driver's
        #expect(out[0].causationID == "l0")
        // At 10:01:00: 11 675.48 m / 10 m/s → 10:20:27.548, only 4.4 s later: nothing.
        // At 10:02:00: speed 0.5 < 1 → 25 km/h (6.944 m/s): 11 564.29 m → 1 665.258 s → 10:29:45.258,
        // 562 s after the last ETA sent: emitted, with that one as previous.
        #expect(D.f(out[1], "eta") == "2026-03-01T10:29:45.258Z")
        #expect(D.f(out[1], "previous_eta") == "2026-03-01T10:20:23.146Z")
        #expect(D.f(out[1], "distance_remaining_m") == "11564")
    }

    @Test func missingSpeedUsesTheFallback() {
        let out = D.run([D.assigned(0), D.loc(0, 0, -0.01, speed: nil)])
        // 12 231.46 m / (25 000 / 3 600) m/s = 1 761.33 s → 10:29:21.330.
        #expect(D.f(out[0], "eta") == "2026-03-01T10:29:21.330Z")
    }

    @Test func geofencesOnceEachAndOnlyInTheirState() {
        let out = D.run([D.assigned(0), D.loc(10, 0, -0.0003), D.loc(20, 0, -0.0002), // 33 m, 22 m from the pickup
                         D.pickedUp(30), D.loc(40, 0, 0.0999), D.loc(50, 0, 0.1)])       // 11 m, 0 m from the dropoff
        let types = out.map(\.type)
        #expect(types.filter { $0 == "delivery.arrived_at_pickup" }.count == 1)
        #expect(types.filter { $0 == "delivery.arrived_at_dropoff" }.count == 1)
        #expect(types.firstIndex(of: "delivery.arrived_at_pickup")! < types.firstIndex(of: "delivery.arrived_at_dropoff")!)
        // Near the dropoff before pick-up: no dropoff arrival.
        let early = D.run([D.assigned(0), D.loc(10, 0, 0.1)])
        #expect(!early.contains { $0.type == "delivery.arrived_at_dropoff" })
    }

    @Test func routeDeviationOncePerExcursion() {
        // 0.01° north of the route is 1 111.95 m off the pickup→dropoff great circle (> 1 000 m).
        let out = D.run([D.assigned(0), D.pickedUp(1), D.loc(10, 0.01, 0.05), D.loc(20, 0.012, 0.06), D.loc(30, 0, 0.07),
                         D.loc(40, 0.02, 0.08), D.loc(50, 0.0085, 0.09)])
        let dev = out.filter { $0.type == "delivery.route_deviation" }
        #expect(dev.map(\.causationID) == ["l10", "l40"])
        #expect(D.f(dev[0], "cross_track_m") == "1112")
        // Off the route before pick-up does not count.
        #expect(!D.run([D.assigned(0), D.loc(10, 0.05, 0.05)]).contains { $0.type == "delivery.route_deviation" })
    }

    @Test func trackingStopsAtCompletionAndFollowsEveryActiveDelivery() {
        let out = D.run([D.assigned(0, id: "d1"), D.assigned(0, id: "d2"), D.loc(5, 0, -0.01), D.completed(6, id: "d1"), D.loc(700, 0, 0.0)])
        let ids = out.filter { $0.type == "delivery.eta_updated" }.map { D.f($0, "delivery_id") }
        // Both deliveries get an ETA at 10:00:05; after d1 completes only d2 is updated.
        #expect(ids.filter { $0 == "d1" }.count == 1)
        #expect(ids.filter { $0 == "d2" }.count >= 1)
        #expect(!out.contains { D.f($0, "delivery_id") == "d1" && $0.time > D.at(6) })
    }

    @Test func arrivalOrderDoesNotMatter() {
        let events = [D.assigned(0), D.loc(10, 0, -0.01), D.pickedUp(20), D.loc(30, 0.02, 0.05), D.loc(40, 0, 0.0999), D.completed(50)]
        #expect(D.run(events) == D.run(events.reversed()))
    }
}

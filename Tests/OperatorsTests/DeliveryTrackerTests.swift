import Domain
import Ingest
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

/// Incremental checkpoints of the tracker's held events (``DeliveryTracker/changedSegments()``).
@Suite struct DeliveryTrackerSegmentTests {
    /// A seeded stream of 8 drivers' deliveries and locations, in arrival order: each event late
    /// by up to 90 s, so some arrive after the watermark has passed them (held until the next
    /// advance: the snapshot's own list, not a segment).
    static func stream(_ rng: inout SplitMix64) -> [Timestamped<Event>] {
        var events: [Timestamped<Event>] = []
        for i in 0..<60 {
            let driver = "drv\(i % 8)", id = "d\(i)", start = i * 150 + Int.random(in: 0...100, using: &rng)
            events.append(D.assigned(start, id: id, driver: driver))
            events.append(D.pickedUp(start + 300, id: id))
            events.append(D.completed(start + 900 + Int.random(in: 0...600, using: &rng), id: id))
        }
        for s in stride(from: 0, to: 10_500, by: 7) {
            let d = s % 8
            events.append(D.e("l\(s)", s, .driverLocationUpdated, .driverLocationUpdated(DriverLocationUpdated(
                driverID: "drv\(d)", location: GeoPoint(lat: 0.001 * Double(d), lng: 0.00001 * Double(s)), speedMps: 8)), tenant: "platform"))
        }
        // Arrival order: time plus a delay of up to 90 s.
        return events.map { ($0, $0.time + Int64.random(in: 0...90_000, using: &rng)) }.sorted { $0.1 < $1.1 }.map(\.0)
    }

    static func id(_ r: ReadModelRow) -> String { r.row.fields.first { $0.0 == "delivery_id" }!.1.description }

    static func held(_ t: DeliveryTracker) -> [String] { t.pending.events.map(\.value.eventID).sorted() }

    /// Restored at every checkpoint from its snapshot and the segments written so far, the tracker
    /// holds the same events and goes on to the same ETAs, geofences and read models as the one
    /// never stopped; segments the watermark passed are removed.
    @Test func segmentsRestoreTheHeldEventsAtEveryCheckpoint() throws {
        for seed in [UInt64(3), 41, 977] {
            var rng = SplitMix64(seed: seed)
            let events = Self.stream(&rng)
            var live = DeliveryTracker()
            live.segmented = true
            live.trimAt = 8; live.trimFloor = 8 // taken events dropped from the unwritten ones often
            var store: [String: [UInt8]] = [:] // what Postgres would hold
            var table: [String: ReadModelRow] = [:]
            var removed = 0, passedHeld = 0, checkpoints = 0
            var seen: EpochMillis = .min
            var i = 0
            while i < events.count {
                let batch = Array(events[i..<min(events.count, i + Int.random(in: 1...40, using: &rng))])
                i += batch.count
                live.process(batch)
                seen = max(seen, batch.map(\.time).max()!)
                if Int.random(in: 0..<4, using: &rng) > 0 { _ = live.advance(to: seen - 30_000) }
                if Int.random(in: 0..<3, using: &rng) > 0 { continue }
                // A checkpoint: the snapshot and the segments, at one cut.
                checkpoints += 1
                passedHeld += live.pending.events.filter { $0.time <= live.watermark }.count
                for r in live.drainReadModel() { table[Self.id(r)] = r } // drained before the snapshot, as a checkpoint does
                let head = try live.snapshot(full: false)
                for e in try live.changedSegments() {
                    if let v = e.value { store[e.key] = v } else { store[e.key] = nil; removed += 1 }
                }
                var restored = DeliveryTracker()
                restored.segmented = true
                try restored.restore(head)
                try restored.restoreSegments(store.map { StateEntry(key: $0.key, value: $0.value) })
                #expect(Self.held(restored) == Self.held(live), "seed \(seed), checkpoint \(checkpoints)")
                // Both go on alike over the rest of the stream.
                var a = live, b = restored
                let rest = Array(events[i...])
                a.process(rest); b.process(rest)
                let outA = a.advance(to: WatermarkTracker.end), outB = b.advance(to: WatermarkTracker.end)
                #expect(outA == outB, "seed \(seed), checkpoint \(checkpoints): \(outA.count) vs \(outB.count) derived events")
                // The `deliveries` table each ends with (a restored tracker writes its active
                // deliveries' rows again: the same values).
                var ta = table, tb = table
                for r in a.drainReadModel() { ta[Self.id(r)] = r }
                for r in b.drainReadModel() { tb[Self.id(r)] = r }
                #expect(ta == tb, "seed \(seed), checkpoint \(checkpoints)")
            }
            #expect(checkpoints > 10 && removed > 0, "seed \(seed): \(checkpoints) checkpoints, \(removed) segments removed")
            #expect(passedHeld > 0, "seed \(seed): no checkpoint held an event the watermark had passed")
            #expect(store.count < checkpoints / 2, "seed \(seed): \(store.count) segments kept of \(checkpoints)")
        }
    }

    /// A checkpoint of the earlier format (every held event in the snapshot) restores, and the
    /// next incremental checkpoint writes those events out: restored from it, the same events are
    /// held and the same ETAs follow.
    @Test func aFullSnapshotRestoresAndItsEventsGoToTheNextSegment() throws {
        var rng = SplitMix64(seed: 7)
        let events = Self.stream(&rng)
        var old = DeliveryTracker() // not incremental: the format before segments
        old.process(Array(events[..<800]))
        _ = old.advance(to: events[..<800].map(\.time).max()! - 30_000)
        #expect(!old.pending.isEmpty)
        var upgraded = DeliveryTracker()
        upgraded.segmented = true
        try upgraded.restore(try old.snapshot())
        let head = try upgraded.snapshot(full: false)
        let entries = try upgraded.changedSegments()
        #expect(entries.count == 1 && entries[0].value != nil)
        var next = DeliveryTracker()
        next.segmented = true
        try next.restore(head)
        try next.restoreSegments(entries)
        #expect(Self.held(next) == Self.held(old))
        let rest = Array(events[800...])
        var a = old, b = next
        a.process(rest); b.process(rest)
        #expect(a.advance(to: WatermarkTracker.end) == b.advance(to: WatermarkTracker.end))
    }

    /// What a checkpoint writes follows the events that arrived since the last one: 100,000 held
    /// locations and 1,000 new ones write about 1 % of a full snapshot's bytes.
    @Test func aCheckpointWritesTheNewHeldEventsNotEveryOne() throws {
        var t = DeliveryTracker()
        t.segmented = true
        func locations(_ r: Range<Int>) -> [Timestamped<Event>] {
            r.map { D.e("l\($0)", $0, .driverLocationUpdated, .driverLocationUpdated(DriverLocationUpdated(
                driverID: "drv\($0 % 50)", location: GeoPoint(lat: 0.001, lng: 0.00001 * Double($0)), speedMps: 8)), tenant: "platform") }
        }
        t.process(locations(0..<100_000))
        _ = try t.changedSegments()
        t.process(locations(100_000..<101_000))
        let written = try t.changedSegments().reduce(0) { $0 + ($1.value?.count ?? 0) } + (try t.snapshot(full: false).count)
        let full = try t.snapshot(full: true).count
        #expect(written * 20 < full, "checkpoint \(written) bytes, full snapshot \(full)")
    }
}

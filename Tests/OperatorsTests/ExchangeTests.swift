import Domain
import Testing
@testable import Operators

/// Repartitioning (Kafka Streams' repartition topic): routing by the new key, the key lookup for
/// events without it, and the event time that crosses the internal topic.
@Suite struct ExchangeTests {
    static func delivery(_ id: String, _ second: Int, _ payload: Payload, type: EventType) -> Timestamped<Event> {
        let t = O.base + Int64(second) * 1000
        return Timestamped(time: t, value: Event(eventID: id, type: type, time: t, tenantID: "t", correlationID: nil, payload: payload))
    }
    static func assigned(_ id: String, _ s: Int, delivery: String, driver: String) -> Timestamped<Event> {
        Self.delivery(id, s, .deliveryAssigned(DeliveryAssigned(deliveryID: delivery, orderID: "o", driverID: driver,
                                                               pickup: GeoPoint(lat: -26, lng: 28), dropoff: GeoPoint(lat: -26.1, lng: 28.1))),
                      type: .deliveryAssigned)
    }
    static func cancelled(_ id: String, _ s: Int, delivery: String) -> Timestamped<Event> {
        Self.delivery(id, s, .deliveryCancelled(DeliveryCancelled(deliveryID: delivery)), type: .deliveryCancelled)
    }

    @Test func routesByTheNewKeyKeepingOrder() {
        let stage = RepartitionStage(name: "r", key: .driverID, types: nil, partitions: 4)
        stage.external = true
        let input = (0..<400).map { i in Self.assigned("e\(i)", i, delivery: "dl-\(i)", driver: "d-\(i % 13)") }
        var out = StageOutput()
        stage.process(Array(input[..<200]), into: &out)
        stage.process(Array(input[200...]), into: &out)
        #expect(out.events.isEmpty) // external: they leave through the internal topic
        let routed = stage.drainOutbound()
        #expect(routed.count == 400)
        var partitionOf: [String: Int] = [:]
        for p in 0..<4 {
            let got = routed.filter { $0.partition == p }
            #expect(got.map(\.event.time) == got.map(\.event.time).sorted()) // per-partition order kept
            for r in got {
                #expect(partitionOf[r.key, default: p] == p)
                partitionOf[r.key] = p
                #expect(p == KafkaPartitioner.partition(r.key, count: 4))
            }
        }
        #expect(partitionOf.count == 13)
        #expect(stage.drainOutbound().isEmpty)
    }

    @Test func aCancellationTakesTheDriverOfItsAssignment() {
        let stage = RepartitionStage(name: "r", key: .driverID, types: nil, partitions: 8, lookup: .deliveryID, allowedLateness: 60_000)
        stage.external = true
        var out = StageOutput()
        // The cancellation arrives before its assignment: it waits, then follows it to its driver.
        stage.process([Self.cancelled("c1", 10, delivery: "dl-1")], into: &out)
        #expect(stage.drainOutbound().isEmpty)
        stage.process([Self.assigned("a1", 5, delivery: "dl-1", driver: "d-7")], into: &out)
        let routed = stage.drainOutbound()
        #expect(routed.map(\.event.value.eventID) == ["c1", "a1"]) // in arrival order
        #expect(Set(routed.map(\.key)) == ["d-7"])
        // One whose delivery never shows up is dropped once the watermark is past its time + lateness.
        stage.process([Self.cancelled("c2", 20, delivery: "dl-unknown")], into: &out)
        stage.advance(to: O.base + 60_000, into: &out)
        #expect(stage.counters.first { $0.0 == "unroutable" }?.1 == 0)
        stage.advance(to: O.base + 81_000, into: &out)
        #expect(stage.counters.first { $0.0 == "unroutable" }?.1 == 1)
        #expect(stage.drainOutbound().isEmpty)
    }

    @Test func downstreamWatermarkIsTheMinimumOfActiveSenders() {
        var w = UpstreamWatermarks(senders: 3)
        #expect(w.current == WatermarkTracker.start)
        w.update(sender: 0, watermark: 100, idle: false)
        w.update(sender: 1, watermark: 50, idle: false)
        #expect(w.current == WatermarkTracker.start) // sender 2 has said nothing yet
        w.update(sender: 2, watermark: 70, idle: false)
        #expect(w.current == 50)
        w.update(sender: 1, watermark: 40, idle: false) // never backwards
        #expect(w.current == 50)
        w.update(sender: 1, watermark: 200, idle: false)
        #expect(w.current == 70)
        w.update(sender: 2, watermark: 70, idle: true) // an idle sender is left out
        #expect(w.current == 100)
        #expect(!w.allEnded)
        for s in 0..<3 { w.update(sender: s, watermark: WatermarkTracker.end, idle: false) }
        #expect(w.allEnded && w.current == WatermarkTracker.end)
    }

    @Test func murmur2MatchesKafka() {
        // Values of org.apache.kafka.common.utils.Utils.murmur2 (Kafka's own test vectors).
        #expect(KafkaPartitioner.murmur2(Array("21".utf8)) == -973932308)
        #expect(KafkaPartitioner.murmur2(Array("foobar".utf8)) == -790332482)
        #expect(KafkaPartitioner.murmur2(Array("a-little-bit-long-string".utf8)) == -985981536)
        #expect(KafkaPartitioner.murmur2(Array("a-little-bit-longer-string".utf8)) == -1486304829)
        #expect(KafkaPartitioner.murmur2(Array("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8".utf8)) == -58897971)
        #expect(KafkaPartitioner.murmur2(Array("abc".utf8)) == 479470107)
    }
}

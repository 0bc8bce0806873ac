import Domain
import Testing
@testable import Operators

@Suite struct ExchangeTests {
    @Test func routesByTheNewKeyKeepingOrder() {
        // Locations keyed by tenant upstream, repartitioned by driver.
        var x = Exchange<(driver: String, n: Int)>(partitions: 4)
        let input = (0..<400).map { i in Timestamped(time: Int64(i), value: (driver: "d-\(i % 13)", n: i)) }
        x.send(input[..<200], key: \.driver)
        x.send(input[200...], key: \.driver)
        var seen = 0
        var partitionOf: [String: Int] = [:]
        for p in 0..<4 {
            let got = x.receive(p)
            seen += got.count
            #expect(got.map(\.time) == got.map(\.time).sorted()) // per-partition order kept
            for r in got {
                #expect(partitionOf[r.value.driver, default: p] == p)
                partitionOf[r.value.driver] = p
                #expect(p == KafkaPartitioner.partition(r.value.driver, count: 4))
            }
            #expect(x.receive(p).isEmpty)
        }
        #expect(seen == 400)
        #expect(partitionOf.count == 13)
    }

    @Test func downstreamWatermarkIsTheMinimumOfSenders() {
        var x = Exchange<Int>(partitions: 2)
        #expect(x.watermark == WatermarkTracker.start)
        x.announce(watermark: 100, from: 0)
        x.announce(watermark: 50, from: 1)
        #expect(x.watermark == 50)
        x.announce(watermark: 40, from: 1) // never backwards
        #expect(x.watermark == 50)
        x.announce(watermark: 200, from: 1)
        #expect(x.watermark == 100)
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

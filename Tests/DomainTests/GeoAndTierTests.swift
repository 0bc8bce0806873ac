import Testing
@testable import Domain

@Suite struct GeoPointTests {
    // One degree of arc on a sphere of radius 6 371 008.8 m: 6 371 008.8 × π / 180 = 111 195.08 m.
    static let oneDegree = 6_371_008.8 * Double.pi / 180

    @Test func haversineOneDegree() {
        let d = GeoPoint(lat: 0, lng: 0).distance(to: GeoPoint(lat: 0, lng: 1))
        #expect(abs(d - Self.oneDegree) < 0.001)
        let m = GeoPoint(lat: 10, lng: 30).distance(to: GeoPoint(lat: 11, lng: 30))
        #expect(abs(m - Self.oneDegree) < 0.001)
        #expect(GeoPoint(lat: -26.2, lng: 28.0).distance(to: GeoPoint(lat: -26.2, lng: 28.0)) == 0)
        // The same through unit vectors (what delivery tracking uses per fix).
        let v = GeoPoint.distance(GeoPoint(lat: 10, lng: 30).unitVector, GeoPoint(lat: 11, lng: 30).unitVector)
        #expect(abs(v - Self.oneDegree) < 0.001)
        let here = GeoPoint(lat: -26.2, lng: 28.0).unitVector
        #expect(GeoPoint.distance(here, here) == 0)
    }

    @Test func crossTrack() {
        // From the equator path (0,0)→(0,10), the point (1,5) is one degree of arc off the track.
        let x = GeoPoint(lat: 1, lng: 5).crossTrackDistance(start: GeoPoint(lat: 0, lng: 0), end: GeoPoint(lat: 0, lng: 10))
        #expect(abs(x - Self.oneDegree) < 0.01)
        let on = GeoPoint(lat: 0, lng: 5).crossTrackDistance(start: GeoPoint(lat: 0, lng: 0), end: GeoPoint(lat: 0, lng: 10))
        #expect(on < 0.001)
    }

    @Test func unitVectorFormulasEqualTheHaversineAndBearingOnes() throws {
        let n = try #require(GeoPoint.greatCircleNormal(GeoPoint(lat: 0, lng: 0), GeoPoint(lat: 0, lng: 10)))
        #expect(abs(GeoPoint.crossTrackDistance(GeoPoint(lat: 1, lng: 5).unitVector, normal: n) - Self.oneDegree) < 0.01)
        // Johannesburg-sized routes and fixes up to ~5 km off, as delivery tracking sees them.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            func near(_ p: GeoPoint, _ r: Double) -> GeoPoint {
                GeoPoint(lat: p.lat + Double.random(in: -r...r, using: &rng), lng: p.lng + Double.random(in: -r...r, using: &rng))
            }
            let a = near(GeoPoint(lat: -26.2, lng: 28.0), 0.2), b = near(a, 0.1), p = near(a, 0.1)
            guard let n = GeoPoint.greatCircleNormal(a, b) else { continue }
            let slow = p.crossTrackDistance(start: a, end: b), fast = GeoPoint.crossTrackDistance(p.unitVector, normal: n)
            #expect(abs(slow - fast) < 1e-4, "\(a) \(b) \(p): \(slow) vs \(fast)")
            // The chord's central angle is the haversine's: equal to well under a millimetre.
            let haversine = p.distance(to: a), chord = GeoPoint.distance(p.unitVector, a.unitVector)
            #expect(abs(haversine - chord) < 1e-6, "\(a) \(p): \(haversine) vs \(chord)")
        }
        #expect(GeoPoint.greatCircleNormal(GeoPoint(lat: 1, lng: 1), GeoPoint(lat: 1, lng: 1)) == nil)
    }

    @Test func validity() {
        #expect(GeoPoint(lat: 90, lng: 180).isValid)
        #expect(!GeoPoint(lat: 90.0001, lng: 0).isValid)
        #expect(!GeoPoint(lat: 0, lng: -180.5).isValid)
    }
}

@Suite struct TierTests {
    @Test func limitsTable() {
        #expect(Tier.basic.limit(.apiCalls) == 1000)
        #expect(Tier.premium.limit(.apiCalls) == 10000)
        #expect(Tier.basic.limit(.orders) == 500)
        #expect(Tier.premium.limit(.orders) == 5000)
        #expect(Tier.basic.limit(.products) == 100)
        #expect(Tier.premium.limit(.products) == 1000)
        #expect(Tier.basic.limit(.storageGB) == 5)
        #expect(Tier.premium.limit(.storageGB) == 50)
        #expect(Tier.basic.limit(.concurrentUsers) == 10)
        #expect(Tier.premium.limit(.concurrentUsers) == 100)
        for r in QuotaResource.allCases { #expect(Tier.enterprise.limit(r) == nil) }
        #expect(Tier.basic.requestsPerMinute == 100)
    }
}

import Domain
import Testing
@testable import Operators

enum Q {
    static func ev(_ t: String, _ payload: Payload, tenant: String = "t", id: String? = nil) -> Timestamped<Event> {
        let type: EventType
        switch payload {
        case .usageRecorded: type = .usageRecorded
        case .orderCreated: type = .orderCreated
        case .tenantCreated: type = .tenantCreated
        case .tenantTierChanged: type = .tenantTierChanged
        default: fatalError()
        }
        let time = ms(t)
        return Timestamped(time: time, value: Event(eventID: id ?? "\(t)/\(type.rawValue)", type: type, time: time, tenantID: tenant, payload: payload))
    }
    static func usage(_ t: String, _ r: QuotaResource, _ amount: Double, tenant: String = "t") -> Timestamped<Event> {
        ev(t, .usageRecorded(UsageRecorded(resource: r, amount: amount)), tenant: tenant, id: "\(t)/\(r.rawValue)/\(amount)")
    }
    static func tenant(_ t: String, _ tier: Tier, zone: String = "Africa/Johannesburg", tenant: String = "t") -> Timestamped<Event> {
        ev(t, .tenantCreated(TenantCreated(name: "S", tier: tier, timezone: zone)), tenant: tenant)
    }
    static func tierChange(_ t: String, _ tier: Tier, from: Tier) -> Timestamped<Event> {
        ev(t, .tenantTierChanged(TenantTierChanged(tier: tier, previousTier: from)))
    }
    static func order(_ t: String, _ i: Int) -> Timestamped<Event> {
        ev(t, .orderCreated(OrderCreated(orderID: "o\(i)", customerID: "c", items: [OrderItem(productID: "p", quantity: 1, unitPrice: Money(cents: 1))],
                                         subtotal: Money(cents: 1), deliveryFee: .zero, tax: .zero, discount: .zero, totalAmount: Money(cents: 1),
                                         paymentMethod: .cash)), id: "o\(i)")
    }
    /// Runs and describes alerts as "type resource used/limit tier".
    static func run(_ events: [Timestamped<Event>]) -> (QuotaTracker, [String]) {
        var q = QuotaTracker()
        q.process(events)
        let out = q.advance(to: WatermarkTracker.end)
        return (q, out.map(describe))
    }
    static func describe(_ d: DerivedEvent) -> String {
        let f = Dictionary(d.data.map { ($0.0, $0.1.description) }, uniquingKeysWith: { $1 })
        return "\(d.type == "quota.warning" ? "warning" : "exceeded") \(f["resource"]!) \(f["used"]!)/\(f["limit"]!) \(f["tier"]!)"
    }
}

@Suite struct QuotaTrackerTests {
    @Test func apiCallsOverASlidingHourWithEpisodes() {
        let (q, out) = Q.run([
            Q.usage("2026-03-01T10:00:00Z", .apiCalls, 500),
            Q.usage("2026-03-01T10:20:00Z", .apiCalls, 300),  // 800 = 80 % of 1000: warning
            Q.usage("2026-03-01T10:30:00Z", .apiCalls, 150),  // 950: still in the warning episode
            Q.usage("2026-03-01T10:40:00Z", .apiCalls, 50),   // 1000: at the limit, not over
            Q.usage("2026-03-01T10:50:00Z", .apiCalls, 1),    // 1001: exceeded
            Q.usage("2026-03-01T10:55:00Z", .apiCalls, 10),   // 1011: same episode, nothing
            // 11:00:00 is exactly an hour after 10:00: that 500 has left the window (t − 1 h, t].
            Q.usage("2026-03-01T11:00:00Z", .apiCalls, 0),    // 511: under both limits, episodes end
            Q.usage("2026-03-01T11:05:00Z", .apiCalls, 300),  // 811: warning again
        ])
        #expect(out == ["warning api_calls 800/1000 basic", "exceeded api_calls 1001/1000 basic", "warning api_calls 811/1000 basic"])
        #expect(q.used("t", .apiCalls) == 811)
    }

    @Test func ordersPerCalendarMonthInJohannesburg() {
        var events = [Q.tenant("2026-03-01T00:00:00Z", .basic)]
        // 401 orders in March (basic: soft 400, hard 500) — the 400th warns.
        for i in 0..<401 { events.append(Q.order("2026-03-\(String(format: "%02d", 1 + i / 20))T10:\(String(format: "%02d", i % 20)):00Z", i)) }
        // 31 March 22:30 UTC is 1 April 00:30 in Johannesburg: a new month, the count starts again.
        events.append(Q.order("2026-03-31T22:30:00Z", 1000))
        let (q, out) = Q.run(events)
        #expect(out == ["warning orders 400/500 basic"])
        #expect(q.used("t", .orders) == 1)
    }

    @Test func monthBoundaryReArmsTheEpisode() {
        var events = [Q.tenant("2026-03-01T00:00:00Z", .basic)]
        for i in 0..<400 { events.append(Q.order("2026-03-31T21:\(String(format: "%02d", i % 60)):\(String(format: "%02d", i / 60))Z", i)) }
        for i in 0..<400 { events.append(Q.order("2026-03-31T22:\(String(format: "%02d", i % 60)):\(String(format: "%02d", i / 60))Z", 500 + i)) }
        let (_, out) = Q.run(events)
        // 21:xx UTC is still March locally; 22:xx UTC is April: two months, two warnings.
        #expect(out == ["warning orders 400/500 basic", "warning orders 400/500 basic"])
    }

    @Test(arguments: [(Tier.basic, QuotaResource.products, 100.0), (.premium, .products, 1000), (.basic, .storageGB, 5),
                      (.premium, .storageGB, 50), (.basic, .concurrentUsers, 10), (.premium, .concurrentUsers, 100)])
    func gaugesPerTier(tier: Tier, resource: QuotaResource, limit: Double) {
        let (_, out) = Q.run([Q.tenant("2026-03-01T00:00:00Z", tier),
                              Q.usage("2026-03-01T01:00:00Z", resource, limit * 0.5),
                              Q.usage("2026-03-01T02:00:00Z", resource, limit * 0.8),   // warning
                              Q.usage("2026-03-01T03:00:00Z", resource, limit),         // at the limit
                              Q.usage("2026-03-01T04:00:00Z", resource, limit + limit / 10),   // exceeded
                              Q.usage("2026-03-01T05:00:00Z", resource, limit * 0.5),   // back under both
                              Q.usage("2026-03-01T06:00:00Z", resource, limit * 2)])    // both again
        let l = Int64(limit)
        func fmt(_ x: Double) -> String { x == x.rounded() ? String(Int64(x)) : String(x) }
        #expect(out == ["warning \(resource.rawValue) \(fmt(limit * 0.8))/\(l) \(tier.rawValue)",
                        "exceeded \(resource.rawValue) \(fmt(limit + limit / 10))/\(l) \(tier.rawValue)",
                        "warning \(resource.rawValue) \(fmt(limit * 2))/\(l) \(tier.rawValue)",
                        "exceeded \(resource.rawValue) \(fmt(limit * 2))/\(l) \(tier.rawValue)"])
    }

    @Test func enterpriseIsUnlimitedAndUnknownTenantsAreBasic() {
        var (_, out) = Q.run([Q.tenant("2026-03-01T00:00:00Z", .enterprise), Q.usage("2026-03-01T01:00:00Z", .apiCalls, 1_000_000),
                              Q.usage("2026-03-01T01:00:01Z", .products, 99_999)])
        #expect(out.isEmpty)
        (_, out) = Q.run([Q.usage("2026-03-01T01:00:00Z", .concurrentUsers, 11)])
        #expect(out == ["warning concurrent_users 11/10 basic", "exceeded concurrent_users 11/10 basic"])
    }

    @Test func aTierChangeReEvaluatesAtOnce() {
        // 60 concurrent users: over basic's 10. An upgrade to premium (100) puts it under both
        // limits: the episodes end; a downgrade back to basic alerts again at once.
        let (q, out) = Q.run([Q.tenant("2026-03-01T00:00:00Z", .basic), Q.usage("2026-03-01T01:00:00Z", .concurrentUsers, 60),
                              Q.tierChange("2026-03-01T02:00:00Z", .premium, from: .basic),
                              Q.usage("2026-03-01T03:00:00Z", .concurrentUsers, 85),
                              Q.tierChange("2026-03-01T04:00:00Z", .basic, from: .premium)])
        #expect(out == ["warning concurrent_users 60/10 basic", "exceeded concurrent_users 60/10 basic",
                        "warning concurrent_users 85/100 premium",
                        "exceeded concurrent_users 85/10 basic"])
        #expect(q.tier("t") == .basic)
    }

    @Test func fractionalStorageIsExact() {
        let (_, out) = Q.run([Q.usage("2026-03-01T01:00:00Z", .storageGB, 4.1), Q.usage("2026-03-01T02:00:00Z", .storageGB, 5.25)])
        #expect(out == ["warning storage_gb 4.1/5 basic", "exceeded storage_gb 5.25/5 basic"])
    }

    @Test func arrivalOrderDoesNotMatter() {
        let events = (0..<50).map { i in Q.usage("2026-03-01T10:\(String(format: "%02d", i)):00Z", .apiCalls, Double(40 + i % 7)) }
        var a = QuotaTracker(), b = QuotaTracker()
        a.process(events)
        b.process(events.reversed())
        #expect(a.advance(to: WatermarkTracker.end) == b.advance(to: WatermarkTracker.end))
    }
}

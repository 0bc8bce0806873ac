import Domain
import Testing
@testable import Operators

/// A product's name is the latest in event time; at equal event times the larger event id wins,
/// whatever the arrival order — also when the second event arrives after the watermark applied
/// the first (within the allowed lateness).
@Suite struct RollupProductNameTests {
    static func order(_ eventID: String, _ orderID: String, name: String) -> Timestamped<Event> {
        let item = OrderItem(productID: "p-1", name: name, quantity: 1, unitPrice: Money(cents: 500))
        return O.ev(eventID, 5, .orderCreated(OrderCreated(orderID: orderID, customerID: "c-\(orderID)", items: [item], subtotal: Money(cents: 500),
                                                           deliveryFee: .zero, tax: .zero, discount: .zero, totalAmount: Money(cents: 500),
                                                           paymentMethod: .cash)), order: orderID)
    }

    static func name(after arrivals: [[Timestamped<Event>]]) -> String? {
        var r = Rollups(granularities: [.hour], allowedLateness: 3_600_000)
        var wm = O.at(10)
        for batch in arrivals {
            r.process(batch)
            r.advance(to: wm)
            wm += 60_000
        }
        return r.products.values.first?[FastKey("p-1")]?.name
    }

    @Test func equalTimesResolveByEventIDNotArrival() {
        let a = Self.order("e-a", "o-1", name: "Old name"), b = Self.order("e-b", "o-2", name: "New name")
        // Same batch, either order; separate batches (the watermark applied the first), either order.
        for arrivals in [[[a, b]], [[b, a]], [[a], [b]], [[b], [a]]] {
            #expect(Self.name(after: arrivals) == "New name", "arrivals \(arrivals.map { $0.map(\.value.eventID) })")
        }
    }
}

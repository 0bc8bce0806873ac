import Domain
import Testing
@testable import Operators

/// Order events built directly as typed values, times in minutes after 10:00 UTC.
enum O {
    static let base = ms("2026-03-01T10:00:00Z")
    static func at(_ minute: Int) -> EpochMillis { base + Int64(minute) * 60_000 }
    static func ev(_ id: String, _ minute: Int, _ payload: Payload, order: String = "A") -> Timestamped<Event> {
        let type: EventType
        switch payload {
        case .orderCreated: type = .orderCreated
        case .orderConfirmed: type = .orderConfirmed
        case .orderProcessingStarted: type = .orderProcessingStarted
        case .orderReadyForPickup: type = .orderReadyForPickup
        case .orderPickedUp: type = .orderPickedUp
        case .orderCompleted: type = .orderCompleted
        case .orderCancelled: type = .orderCancelled
        case .paymentInitiated: type = .paymentInitiated
        case .paymentSucceeded: type = .paymentSucceeded
        case .paymentFailed: type = .paymentFailed
        case .paymentRefunded: type = .paymentRefunded
        case .deliveryAssigned: type = .deliveryAssigned
        default: fatalError("not an order event")
        }
        return Timestamped(time: at(minute), value: Event(eventID: id, type: type, time: at(minute), tenantID: "t", correlationID: "x-\(order)", payload: payload))
    }
    static func created(_ id: String, _ m: Int, _ method: OrderPaymentMethod = .card, order: String = "A") -> Timestamped<Event> {
        ev(id, m, .orderCreated(OrderCreated(orderID: order, customerID: "c", items: [OrderItem(productID: "p", quantity: 1, unitPrice: Money(cents: 100))],
                                             subtotal: Money(cents: 100), deliveryFee: .zero, tax: .zero, discount: .zero,
                                             totalAmount: Money(cents: 100), paymentMethod: method)), order: order)
    }
    static func confirmed(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .orderConfirmed(OrderConfirmed(orderID: order, vendorID: "v")), order: order) }
    static func processing(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .orderProcessingStarted(orderID: order), order: order) }
    static func ready(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .orderReadyForPickup(orderID: order), order: order) }
    static func pickedUp(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .orderPickedUp(OrderPickedUp(orderID: order, deliveryID: "dl")), order: order) }
    static func completed(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .orderCompleted(OrderCompleted(orderID: order)), order: order) }
    static func cancelled(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .orderCancelled(OrderCancelled(orderID: order, reason: "changed_mind")), order: order) }
    static func paid(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .paymentSucceeded(PaymentSucceeded(paymentID: "p1", orderID: order, amount: Money(cents: 100), transactionID: "tx")), order: order) }
    static func initiated(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .paymentInitiated(PaymentInitiated(paymentID: "p1", orderID: order, amount: Money(cents: 100), method: .card, gateway: .paystack)), order: order) }
    static func failed(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .paymentFailed(PaymentFailed(paymentID: "p1", orderID: order, errorCode: "declined")), order: order) }
    static func refunded(_ id: String, _ m: Int, order: String = "A") -> Timestamped<Event> { ev(id, m, .paymentRefunded(PaymentRefunded(paymentID: "p1", orderID: order, amount: Money(cents: 100))), order: order) }

    /// Runs events through a lifecycle (one batch, then the end of input); returns the derived
    /// events as compact "type:detail" strings.
    static func run(_ events: [Timestamped<Event>], lateness: Int64 = 600_000) -> (OrderLifecycle, [String]) {
        var l = OrderLifecycle(allowedLateness: lateness)
        l.process(events)
        let out = l.advance(to: WatermarkTracker.end)
        return (l, out.map(describe))
    }

    static func describe(_ d: DerivedEvent) -> String {
        let f = Dictionary(d.data.map { ($0.0, $0.1.description) }, uniquingKeysWith: { $1 })
        switch d.type {
        case "order.status_changed": return "changed \(f["from"]!)→\(f["to"]!) by \(f["event_id"]!)"
        case "order.transition_rejected": return "rejected \(f["event_type"]!) in \(f["state"]!): \(f["reason"]!)"
        case "order.compensation_requested": return "compensate \(f["actions"]!) \(f["reason"]!)"
        default: return d.type
        }
    }
}

@Suite struct OrderLifecycleTests {
    @Test func theHappyPathOfACardOrder() {
        let (l, out) = O.run([O.created("e1", 0), O.initiated("e2", 1), O.paid("e3", 2), O.confirmed("e4", 3), O.processing("e5", 4),
                              O.ready("e6", 5), O.pickedUp("e7", 6), O.completed("e8", 7)])
        #expect(out == ["changed null→pending by e1", "changed pending→confirmed by e4", "changed confirmed→processing by e5",
                        "changed processing→ready_for_pickup by e6", "changed ready_for_pickup→delivering by e7",
                        "changed delivering→completed by e8"])
        let o = l.orders["t/A"]!
        #expect(o.status == .completed)
        #expect(o.paymentStatus == .succeeded)
        #expect(o.history.map(\.to) == [.pending, .confirmed, .processing, .readyForPickup, .delivering, .completed])
        #expect(o.deliveryID == "dl")
    }

    /// The prefix of events that brings an order to `state` (cash, so confirmation needs no payment).
    static func prefix(to state: OrderStatus) -> [Timestamped<Event>] {
        let steps: [Timestamped<Event>] = [O.created("s1", 0, .cash), O.confirmed("s2", 1), O.processing("s3", 2), O.ready("s4", 3), O.pickedUp("s5", 4), O.completed("s6", 5)]
        switch state {
        case .pending: return Array(steps[..<1])
        case .confirmed: return Array(steps[..<2])
        case .processing: return Array(steps[..<3])
        case .readyForPickup: return Array(steps[..<4])
        case .delivering: return Array(steps[..<5])
        case .completed: return steps
        case .cancelled: return [steps[0], O.cancelled("s9", 1)]
        }
    }

    static func event(_ type: EventType, minute: Int) -> Timestamped<Event> {
        switch type {
        case .orderCreated: return O.created("z", minute, .cash)
        case .orderConfirmed: return O.confirmed("z", minute)
        case .orderProcessingStarted: return O.processing("z", minute)
        case .orderReadyForPickup: return O.ready("z", minute)
        case .orderPickedUp: return O.pickedUp("z", minute)
        case .orderCompleted: return O.completed("z", minute)
        default: return O.cancelled("z", minute)
        }
    }

    static let lifecycleEvents: [EventType] = [.orderCreated, .orderConfirmed, .orderProcessingStarted, .orderReadyForPickup,
                                               .orderPickedUp, .orderCompleted, .orderCancelled]

    /// The contract's table: from which states each event moves the order, and to where.
    static let table: [EventType: ([OrderStatus], OrderStatus)] = [
        .orderConfirmed: ([.pending], .confirmed), .orderProcessingStarted: ([.confirmed], .processing),
        .orderReadyForPickup: ([.processing], .readyForPickup), .orderPickedUp: ([.readyForPickup], .delivering),
        .orderCompleted: ([.delivering], .completed), .orderCancelled: ([.pending, .confirmed, .processing], .cancelled),
    ]

    @Test(arguments: OrderStatus.allCases)
    func everyRowOfTheTableFromEveryState(state: OrderStatus) {
        for type in Self.lifecycleEvents {
            let (l, out) = O.run(Self.prefix(to: state) + [Self.event(type, minute: 30)])
            let last = out.last!
            if type == .orderCreated {
                #expect(last == "rejected order.created in \(state.rawValue): duplicate_order")
            } else if let (from, to) = Self.table[type], from.contains(state) {
                #expect(last == "changed \(state.rawValue)→\(to.rawValue) by z", "\(type) from \(state)")
                #expect(l.orders["t/A"]!.status == to)
            } else {
                #expect(last == "rejected \(type.rawValue) in \(state.rawValue): invalid_transition", "\(type) from \(state)")
                #expect(l.orders["t/A"]!.status == state) // unchanged
            }
        }
    }

    @Test func confirmationNeedsASucceededPaymentUnlessCash() {
        var (_, out) = O.run([O.created("e1", 0, .card), O.initiated("e2", 1), O.confirmed("e3", 2)])
        #expect(out == ["changed null→pending by e1", "rejected order.confirmed in pending: payment_not_succeeded"])
        (_, out) = O.run([O.created("e1", 0, .eft), O.paid("e2", 1), O.confirmed("e3", 2)])
        #expect(out.last == "changed pending→confirmed by e3")
        (_, out) = O.run([O.created("e1", 0, .cash), O.confirmed("e3", 2)])
        #expect(out.last == "changed pending→confirmed by e3")
        // A payment that succeeded and was later refunded still counts as having succeeded.
        (_, out) = O.run([O.created("e1", 0, .mobileMoney), O.paid("e2", 1), O.refunded("e3", 2), O.confirmed("e4", 3)])
        #expect(out.last == "changed pending→confirmed by e4")
    }

    @Test func pickUpNeedsADeliveryAndProcessingAVendor() {
        // The contract's events always carry vendor_id (confirmed) and delivery_id (picked_up), so
        // the guards hold on the normal path; the state records them.
        let (l, _) = O.run(Self.prefix(to: .delivering))
        #expect(l.orders["t/A"]!.vendorID == "v")
        #expect(l.orders["t/A"]!.deliveryID == "dl")
    }

    @Test func paymentStatusFollowsTheLatestPaymentEvent() {
        var (l, _) = O.run([O.created("e1", 0), O.initiated("e2", 1)])
        #expect(l.orders["t/A"]!.paymentStatus == .initiated)
        (l, _) = O.run([O.created("e1", 0), O.initiated("e2", 1), O.failed("e3", 2), O.initiated("e4", 3), O.paid("e5", 4)])
        #expect(l.orders["t/A"]!.paymentStatus == .succeeded)
        (l, _) = O.run([O.created("e1", 0), O.paid("e2", 1), O.refunded("e3", 9)])
        #expect(l.orders["t/A"]!.paymentStatus == .refunded)
    }

    @Test func theSaga() {
        // Non-cash, pending: compensation.
        var (_, out) = O.run([O.created("e1", 0, .card), O.failed("e2", 1)])
        #expect(out == ["changed null→pending by e1", "compensate [cancel_order, release_stock] payment_failed"])
        // Non-cash, confirmed (paid, then a second payment fails): compensation.
        (_, out) = O.run([O.created("e1", 0, .card), O.paid("e2", 1), O.confirmed("e3", 2), O.failed("e4", 3)])
        #expect(out.last == "compensate [cancel_order, release_stock] payment_failed")
        // Cash: no saga.
        (_, out) = O.run([O.created("e1", 0, .cash), O.failed("e2", 1)])
        #expect(out == ["changed null→pending by e1"])
        // Past confirmed (processing): no saga.
        (_, out) = O.run([O.created("e1", 0, .card), O.paid("e2", 1), O.confirmed("e3", 2), O.processing("e4", 3), O.failed("e5", 4)])
        #expect(!out.contains { $0.hasPrefix("compensate") })
    }

    @Test func eventTimeOrderNotArrivalOrderAndTiesByEventID() {
        // Arrives completed-first; applied by event time.
        let (_, out) = O.run([O.confirmed("e2", 1), O.created("e1", 0, .cash)])
        #expect(out == ["changed null→pending by e1", "changed pending→confirmed by e2"])
        // Same time: cancelled "a" sorts before confirmed "b".
        let (l, tie) = O.run([O.created("e0", 0, .cash), O.confirmed("b", 5), O.cancelled("a", 5)])
        #expect(tie == ["changed null→pending by e0", "changed pending→cancelled by a", "rejected order.confirmed in cancelled: invalid_transition"])
        #expect(l.orders["t/A"]!.status == .cancelled)
    }

    @Test func unknownOrdersAreHeldThenRejected() {
        var l = OrderLifecycle(allowedLateness: 10 * 60_000)
        l.process([O.confirmed("e2", 5, order: "Z")])
        // Watermark passes the event but not its time + lateness (10:15): held.
        #expect(l.advance(to: O.at(14)).isEmpty)
        // order.created arrives late (10:04, within lateness): applied, then the held event.
        l.process([O.created("e1", 4, .cash, order: "Z")])
        #expect(l.advance(to: O.at(14) + 1).map(O.describe) == ["changed null→pending by e1", "changed pending→confirmed by e2"])
        // An order that never comes: rejected once the watermark passes 10:15 + 10 min.
        l.process([O.processing("e9", 15, order: "Q")])
        #expect(l.advance(to: O.at(24)).isEmpty)
        #expect(l.advance(to: O.at(25)).map(O.describe) == ["rejected order.processing_started in null: order_unknown"])
    }

    @Test func derivedEventsHaveDeterministicIDsAndCarryTheCause() {
        var a = OrderLifecycle(allowedLateness: 0), b = OrderLifecycle(allowedLateness: 0)
        let input = [O.created("e1", 0, .card), O.failed("e2", 1)]
        a.process(input)
        b.process(input)
        let da = a.advance(to: WatermarkTracker.end), db = b.advance(to: WatermarkTracker.end)
        #expect(da.map(\.eventID) == db.map(\.eventID))
        #expect(Set(da.map(\.eventID)).count == 2)
        #expect(da[1].causationID == "e2")
        #expect(da[1].correlationID == "x-A")
        #expect(da[1].json.contains("\"actions\":[\"cancel_order\",\"release_stock\"]"))
    }

    @Test func outputOrderDoesNotDependOnBatching() {
        var events: [Timestamped<Event>] = []
        for (i, order) in ["A", "B", "C"].enumerated() {
            events += [O.created("\(order)1", i, .cash, order: order), O.confirmed("\(order)2", i + 3, order: order),
                       O.cancelled("\(order)3", i + 4, order: order), O.processing("\(order)4", i + 6, order: order)]
        }
        events.sort { $0.time < $1.time }
        var one = OrderLifecycle(allowedLateness: 60_000)
        var outOne: [DerivedEvent] = []
        for e in events {
            one.process([e])
            outOne += one.advance(to: e.time - 30_000)
        }
        outOne += one.advance(to: WatermarkTracker.end)
        var all = OrderLifecycle(allowedLateness: 60_000)
        all.process(events)
        let outAll = all.advance(to: WatermarkTracker.end)
        #expect(outOne == outAll)
        #expect(outAll.count == 12)
    }
}

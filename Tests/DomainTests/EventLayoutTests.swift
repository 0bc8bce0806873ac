import Testing
@testable import Domain

/// `Event.prefetch(at:)` reads an event's storage address straight from its memory; that holds
/// only while `Event` is exactly one reference.
@Suite struct EventLayoutTests {
    @Test func anEventIsOneReferenceToItsStorage() {
        #expect(MemoryLayout<Event>.size == MemoryLayout<UnsafeRawPointer>.size)
        var e = Event(eventID: "e1", type: .orderCreated, time: 0, tenantID: "t", payload: .orderProcessingStarted(orderID: "o"))
        let address = withUnsafePointer(to: &e) { UnsafeRawPointer($0).load(as: UnsafeRawPointer.self) }
        #expect(address == UnsafeRawPointer(Unmanaged.passUnretained(e.storage).toOpaque()))
        withUnsafePointer(to: &e) { Event.prefetch(at: $0) } // touches the storage, never copies the event
        #expect(e.eventID == "e1")
    }
}

/// Enums hashed by case (`HashedByCase`) behave as keys: every case distinct, equal values alike,
/// and sets and dictionaries find them.
@Suite struct HashedByCaseTests {
    @Test func everyCaseIsItsOwnKey() {
        #expect(MemoryLayout<OrderStatus>.size == 1 && MemoryLayout<QuotaResource>.size == 1)
        #expect(Set(OrderStatus.allCases.map(\.caseByte)).count == OrderStatus.allCases.count)
        #expect(Set(QuotaResource.allCases.map(\.caseByte)).count == QuotaResource.allCases.count)
        var seen: [OrderStatus: String] = [:]
        for s in OrderStatus.allCases { seen[s] = s.rawValue }
        for s in OrderStatus.allCases {
            #expect(seen[s] == s.rawValue)
            #expect(OrderStatus(rawValue: s.rawValue)!.hashValue == s.hashValue)
        }
        var used = Set(QuotaResource.allCases)
        #expect(used.remove(.orders) == .orders)
        #expect(!used.contains(.orders) && used.contains(.apiCalls) && used.count == QuotaResource.allCases.count - 1)
    }
}

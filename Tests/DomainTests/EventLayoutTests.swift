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

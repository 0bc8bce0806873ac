import Foundation
import Testing
@testable import Domain
@testable import Ingest

@Suite struct EventDecoderTests {
    let decoder = EventDecoder()

    func decode(_ s: String) -> Result<Event, Rejection> { decoder.decode(s) }

    @Test func everyCatalogTypeHasASample() {
        #expect(Set(Samples.valid.map(\.0)) == Set(EventType.catalog.map(\.rawValue)))
    }

    @Test(arguments: Samples.valid)
    func decodesEveryCatalogType(type: String, data: String) throws {
        let e = try decode(Samples.envelope(type, data)).get()
        #expect(e.type.rawValue == type)
        #expect(e.eventID == "evt-1")
        #expect(e.tenantID == "t-1")
        #expect(e.time == RFC3339.parse("2026-03-01T08:00:00Z")!)
        #expect(e.correlationID == "corr-1")
        #expect(e.causationID == nil)
        #expect(e.actor == Actor(type: .user, id: "u-1"))
        #expect(e.minorVersion == 0)
    }

    @Test func orderCreatedIsTypedToTheCent() throws {
        let e = try decode(Samples.envelope("order.created", Samples.order)).get()
        guard case .orderCreated(let o) = e.payload else { Issue.record("wrong payload"); return }
        #expect(o.orderID == "o-1")
        #expect(o.customerID == "c-1")
        #expect(o.items == [
            OrderItem(productID: "p-1", name: "Kota", quantity: 2, unitPrice: Money(cents: 3550), vendorID: "v-1"),
            OrderItem(productID: "p-2", name: nil, quantity: 1, unitPrice: Money(cents: 1799), vendorID: nil),
        ])
        #expect(o.subtotal.cents == 8899)
        #expect(o.deliveryFee.cents == 1500)
        #expect(o.discount.cents == 399)
        #expect(o.totalAmount.cents == 10000)
        #expect(o.paymentMethod == .card)
        #expect(o.source == .whatsapp)
        #expect(e.orderID == "o-1")
        #expect(e.kafkaKey == "t-1")
    }

    @Test func typedFieldsOfOtherEvents() throws {
        let loc = try decode(Samples.envelope("driver.location_updated", Samples.valid[18].1)).get()
        guard case .driverLocationUpdated(let d) = loc.payload else { Issue.record("wrong payload"); return }
        #expect(d.location == GeoPoint(lat: -26.2485, lng: 27.854))
        #expect(d.speedMps == 8.5)
        #expect(loc.kafkaKey == "drv-1")
        let t = try decode(Samples.envelope("tenant.created", #"{"name":"S","tier":"basic"}"#)).get()
        guard case .tenantCreated(let tc) = t.payload else { Issue.record("wrong payload"); return }
        #expect(tc.timezone == "Africa/Johannesburg")
        #expect(tc.currency == "ZAR")
        let w = try decode(Samples.envelope("whatsapp.message.received", Samples.valid[2].1)).get()
        guard case .whatsappMessageReceived(let m) = w.payload else { Issue.record("wrong payload"); return }
        #expect(m.receivedAt == RFC3339.parse("2026-03-01T07:59:59Z"))
        #expect(m.type == .text)
    }

    @Test func fieldOrderDoesNotMatter() throws {
        // data before event_type and version: parsed after the envelope.
        let s = #"{"data":{"order_id":"o-9","vendor_id":"v-2"},"timestamp":"2026-03-01T08:00:00Z","tenant_id":"t","version":"1.3","event_type":"order.confirmed","event_id":"e"}"#
        let e = try decode(s).get()
        guard case .orderConfirmed(let c) = e.payload else { Issue.record("wrong payload"); return }
        #expect(c == OrderConfirmed(orderID: "o-9", vendorID: "v-2"))
        #expect(e.minorVersion == 3)
    }

    @Test func unknownFieldsAreIgnoredAndEscapesDecoded() throws {
        let s = Samples.envelope("order.cancelled", #"{"order_id":"o-\u0031","reason":"caf\u00e9 \"closed\"","future":[1,{"x":null}]}"#,
                                 extra: #","shiny_new_field":{"deep":[true,false,-1.5e3]}"#)
        let e = try decode(s).get()
        guard case .orderCancelled(let c) = e.payload else { Issue.record("wrong payload"); return }
        #expect(c.orderID == "o-1")
        #expect(c.reason == "café \"closed\"")
    }

    @Test func unicodeIdsCountCharactersNotBytes() throws {
        let id128 = String(repeating: "é", count: 128) // 256 bytes, 128 characters
        let ok = Samples.envelope("order.ready_for_pickup", #"{"order_id":"\#(id128)"}"#)
        #expect((try? decode(ok).get()) != nil)
        let bad = Samples.envelope("order.ready_for_pickup", #"{"order_id":"\#(id128)é"}"#)
        #expect(reason(bad) == .outOfRange)
    }

    func reason(_ s: String) -> RejectReason? {
        if case .failure(let r) = decode(s) { return r.reason }
        return nil
    }
}

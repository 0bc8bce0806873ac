/// A field of an event named by its path in the envelope (`tenant_id`, `data.order_id`), as
/// pipeline files name keys and amounts. Only paths that resolve on typed events exist, so a
/// typo is a configuration error, not a silently empty key.
public enum EventField: String, CaseIterable, Sendable {
    case eventID = "event_id"
    case eventType = "event_type"
    case tenantID = "tenant_id"
    case correlationID = "correlation_id"
    case orderID = "data.order_id"
    case customerID = "data.customer_id"
    case paymentID = "data.payment_id"
    case deliveryID = "data.delivery_id"
    case driverID = "data.driver_id"
    case vendorID = "data.vendor_id"
    case productID = "data.product_id"
    case messageID = "data.message_id"
    /// The sender of a WhatsApp message (E.164).
    case sender = "data.from"
    case resource = "data.resource"
    case gateway = "data.gateway"

    /// The field's text on `e`, or nil when this kind of event has no such field.
    public func text(of e: Event) -> String? {
        switch self {
        case .eventID: return e.eventID
        case .eventType: return e.type.rawValue
        case .tenantID: return e.tenantID
        case .correlationID: return e.correlationID
        case .orderID: return e.orderID
        case .customerID:
            if case .orderCreated(let o) = e.payload { return o.customerID }
            return nil
        case .paymentID:
            switch e.payload {
            case .paymentInitiated(let p): return p.paymentID
            case .paymentSucceeded(let p): return p.paymentID
            case .paymentFailed(let p): return p.paymentID
            case .paymentRefunded(let p): return p.paymentID
            default: return nil
            }
        case .deliveryID:
            switch e.payload {
            case .deliveryAssigned(let d): return d.deliveryID
            case .deliveryPickedUp(let d): return d.deliveryID
            case .deliveryCompleted(let d): return d.deliveryID
            case .deliveryCancelled(let d): return d.deliveryID
            case .orderPickedUp(let o): return o.deliveryID
            case .orderCompleted(let o): return o.deliveryID
            default: return nil
            }
        case .driverID:
            switch e.payload {
            case .driverLocationUpdated(let d): return d.driverID
            case .deliveryAssigned(let d): return d.driverID
            case .deliveryPickedUp(let d): return d.driverID
            case .deliveryCompleted(let d): return d.driverID
            default: return nil
            }
        case .vendorID:
            switch e.payload {
            case .orderConfirmed(let o): return o.vendorID
            case .inventoryUpdated(let i): return i.vendorID
            default: return nil
            }
        case .productID:
            if case .inventoryUpdated(let i) = e.payload { return i.productID }
            return nil
        case .messageID:
            if case .whatsappMessageReceived(let m) = e.payload { return m.messageID }
            return nil
        case .sender:
            if case .whatsappMessageReceived(let m) = e.payload { return m.from }
            return nil
        case .resource:
            if case .usageRecorded(let u) = e.payload { return u.resource.rawValue }
            return nil
        case .gateway:
            if case .paymentInitiated(let p) = e.payload { return p.gateway.rawValue }
            return nil
        }
    }
}

/// A money field named by its path (`data.total_amount`, `data.amount`, `data.subtotal`).
public enum MoneyField: String, CaseIterable, Sendable {
    case totalAmount = "data.total_amount"
    case subtotal = "data.subtotal"
    case deliveryFee = "data.delivery_fee"
    case amount = "data.amount"

    /// The amount in cents on `e`, or nil when this kind of event has no such field.
    public func cents(of e: Event) -> Int64? {
        switch (self, e.payload) {
        case (.totalAmount, .orderCreated(let o)): return o.totalAmount.cents
        case (.subtotal, .orderCreated(let o)): return o.subtotal.cents
        case (.deliveryFee, .orderCreated(let o)): return o.deliveryFee.cents
        case (.amount, .paymentInitiated(let p)): return p.amount.cents
        case (.amount, .paymentSucceeded(let p)): return p.amount.cents
        case (.amount, .paymentRefunded(let p)): return p.amount.cents
        default: return nil
        }
    }
}

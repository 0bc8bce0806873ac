/// Every `event_type` of the input catalog (CONTRACT §1).
public enum EventType: String, CaseIterable, Sendable, Codable {
    case tenantCreated = "tenant.created"
    case tenantTierChanged = "tenant.tier_changed"
    case whatsappMessageReceived = "whatsapp.message.received"
    case orderCreated = "order.created"
    case orderConfirmed = "order.confirmed"
    case orderProcessingStarted = "order.processing_started"
    case orderReadyForPickup = "order.ready_for_pickup"
    case orderPickedUp = "order.picked_up"
    case orderCompleted = "order.completed"
    case orderCancelled = "order.cancelled"
    case paymentInitiated = "payment.initiated"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case paymentRefunded = "payment.refunded"
    case deliveryAssigned = "delivery.assigned"
    case deliveryPickedUp = "delivery.picked_up"
    case deliveryCompleted = "delivery.completed"
    case deliveryCancelled = "delivery.cancelled"
    case driverLocationUpdated = "driver.location_updated"
    case usageRecorded = "usage.recorded"
    case inventoryUpdated = "inventory.updated"
    case notificationSent = "notification.sent"

    /// The event types producers may send (CONTRACT §1's catalog), in catalog order.
    public static let catalog: [EventType] = allCases

    /// The default Kafka topic of this event's family (CONTRACT §1 "Default topics").
    ///
    /// `inventory.updated` travels with the orders it affects (`orders`) and
    /// `notification.sent` with metered usage (`usage`): the contract lists no topic of their own.
    public var defaultTopic: String {
        switch self {
        case .tenantCreated, .tenantTierChanged: return Topics.tenants
        case .whatsappMessageReceived: return Topics.whatsappInbound
        case .orderCreated, .orderConfirmed, .orderProcessingStarted, .orderReadyForPickup,
             .orderPickedUp, .orderCompleted, .orderCancelled, .inventoryUpdated: return Topics.orders
        case .paymentInitiated, .paymentSucceeded, .paymentFailed, .paymentRefunded: return Topics.payments
        case .deliveryAssigned, .deliveryPickedUp, .deliveryCompleted, .deliveryCancelled: return Topics.deliveries
        case .driverLocationUpdated: return Topics.driverLocations
        case .usageRecorded, .notificationSent: return Topics.usage
        }
    }
}

/// The default topic names (CONTRACT §1). All are configurable in the pipeline file.
public enum Topics {
    public static let whatsappInbound = "whatsapp.inbound"
    public static let orders = "orders"
    public static let payments = "payments"
    public static let deliveries = "deliveries"
    public static let driverLocations = "driver-locations"
    public static let usage = "usage"
    public static let tenants = "tenants"
    public static let orderStatus = "order-status"
    public static let quotaAlerts = "quota-alerts"
    public static let deliveryETA = "delivery-eta"
    public static let deadLetters = "wakala.dlq"

    /// The input topics.
    public static let inputs = [whatsappInbound, orders, payments, deliveries, driverLocations, usage, tenants]
    /// The derived-event and dead-letter topics.
    public static let outputs = [orderStatus, quotaAlerts, deliveryETA, deadLetters]
}

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
    /// The internal topic of the default pipeline (`Pipelines/analytics.yaml`): deliveries
    /// repartitioned by driver (`<pipeline>-<operator>-repartition`).
    public static let defaultRepartition = "analytics-deliveries_by_driver-repartition"
    /// The default pipeline's exactly-once markers topic (`<pipeline>-eos-markers`).
    public static let defaultMarkers = "analytics-eos-markers"
    /// The default pipeline's reroute topic (`<pipeline>-reroute`): input records placed in
    /// another partition than their key's, forwarded to the task owning the key.
    public static let defaultReroute = "analytics-reroute"
    /// The internal topics `wakala run` needs for the default pipeline (the embedded broker
    /// creates them: librdkafka 2.0.2's mock cluster does not take CreateTopics).
    public static let defaultInternal = [defaultRepartition, defaultMarkers, defaultReroute]
    /// The derived-event and dead-letter topics.
    public static let outputs = [orderStatus, quotaAlerts, deliveryETA, deadLetters]
}


extension EventType {
    /// Position in the catalog (declaration order), for bit sets.
    @inlinable public var ordinal: Int {
        switch self {
        case .tenantCreated: return 0
        case .tenantTierChanged: return 1
        case .whatsappMessageReceived: return 2
        case .orderCreated: return 3
        case .orderConfirmed: return 4
        case .orderProcessingStarted: return 5
        case .orderReadyForPickup: return 6
        case .orderPickedUp: return 7
        case .orderCompleted: return 8
        case .orderCancelled: return 9
        case .paymentInitiated: return 10
        case .paymentSucceeded: return 11
        case .paymentFailed: return 12
        case .paymentRefunded: return 13
        case .deliveryAssigned: return 14
        case .deliveryPickedUp: return 15
        case .deliveryCompleted: return 16
        case .deliveryCancelled: return 17
        case .driverLocationUpdated: return 18
        case .usageRecorded: return 19
        case .inventoryUpdated: return 20
        case .notificationSent: return 21
        }
    }
}

/// A set of event types as one bit per type: the per-event `events:` filters of operators test
/// membership for every record, and `Set<EventType>` hashed each time.
public struct EventTypeSet: Sendable, Equatable, ExpressibleByArrayLiteral {
    @usableFromInline var bits: UInt64

    @inlinable public init<S: Sequence>(_ types: S) where S.Element == EventType {
        bits = 0
        for t in types { bits |= 1 << UInt64(t.ordinal) }
    }

    public init(arrayLiteral elements: EventType...) { self.init(elements) }

    @inlinable public func contains(_ t: EventType) -> Bool { bits & (1 << UInt64(t.ordinal)) != 0 }

    public var isEmpty: Bool { bits == 0 }

    @inlinable public mutating func insert(_ t: EventType) { bits |= 1 << UInt64(t.ordinal) }
}

import CSupport

/// One accepted input event: the envelope of CONTRACT §1 and its typed `data`.
///
/// A value type with copy-on-write storage: an event is read by several operators and held in
/// their buffers until the watermark passes it, so a copy must cost one reference count, not
/// ~200 bytes and a dozen string retains (measured: the struct layout made event copies and
/// their release ~20 % of the operators' time).
public struct Event: Sendable {
    @usableFromInline
    final class Storage: @unchecked Sendable {
        // Mutated only through `Event`'s setters, after `isKnownUniquelyReferenced`.
        @usableFromInline var eventID: String
        @usableFromInline var type: EventType
        @usableFromInline var minorVersion: Int
        @usableFromInline var time: EpochMillis
        @usableFromInline var tenantID: String
        @usableFromInline var correlationID: String?
        @usableFromInline var causationID: String?
        @usableFromInline var actor: Actor?
        @usableFromInline var payload: Payload

        @usableFromInline
        init(eventID: String, type: EventType, minorVersion: Int, time: EpochMillis, tenantID: String,
             correlationID: String?, causationID: String?, actor: Actor?, payload: Payload) {
            self.eventID = eventID; self.type = type; self.minorVersion = minorVersion; self.time = time
            self.tenantID = tenantID; self.correlationID = correlationID; self.causationID = causationID
            self.actor = actor; self.payload = payload
        }

        @usableFromInline
        func copy() -> Storage {
            Storage(eventID: eventID, type: type, minorVersion: minorVersion, time: time, tenantID: tenantID,
                    correlationID: correlationID, causationID: causationID, actor: actor, payload: payload)
        }
    }

    @usableFromInline var storage: Storage

    /// Bytes of one event's shared storage: object header and the fields inline (strings over
    /// 15 bytes and item arrays are further allocations).
    public static var storageBytes: Int {
        16 + MemoryLayout<(String, EventType, Int, EpochMillis, String, String?, String?, Actor?, Payload)>.size
    }

    @inlinable
    mutating func unique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// `event_id`: unique per event, the default dedupe key.
    @inlinable public var eventID: String {
        get { storage.eventID }
        set { unique(); storage.eventID = newValue }
    }
    /// `event_type`.
    @inlinable public var type: EventType {
        get { storage.type }
        set { unique(); storage.type = newValue }
    }
    /// The minor version of `"1.x"` (`version` `"1.0"` → 0).
    @inlinable public var minorVersion: Int {
        get { storage.minorVersion }
        set { unique(); storage.minorVersion = newValue }
    }
    /// `timestamp`: event time in UTC milliseconds.
    @inlinable public var time: EpochMillis {
        get { storage.time }
        set { unique(); storage.time = newValue }
    }
    /// `tenant_id`: the business, or `"platform"` for platform-wide entities.
    @inlinable public var tenantID: String {
        get { storage.tenantID }
        set { unique(); storage.tenantID = newValue }
    }
    /// `correlation_id`, when given.
    @inlinable public var correlationID: String? {
        get { storage.correlationID }
        set { unique(); storage.correlationID = newValue }
    }
    /// `causation_id`, when given and not null.
    @inlinable public var causationID: String? {
        get { storage.causationID }
        set { unique(); storage.causationID = newValue }
    }
    /// `actor`, when given.
    @inlinable public var actor: Actor? {
        get { storage.actor }
        set { unique(); storage.actor = newValue }
    }
    /// The typed `data`.
    @inlinable public var payload: Payload {
        get { storage.payload }
        set { unique(); storage.payload = newValue }
    }

    public init(eventID: String, type: EventType, minorVersion: Int = 0, time: EpochMillis,
                tenantID: String, correlationID: String? = nil, causationID: String? = nil,
                actor: Actor? = nil, payload: Payload) {
        storage = Storage(eventID: eventID, type: type, minorVersion: minorVersion, time: time, tenantID: tenantID,
                          correlationID: correlationID, causationID: causationID, actor: actor, payload: payload)
    }

    /// Starts loading the storage (envelope and payload, four cache lines) of the event at `p`
    /// into the cache, without copying the event (a copy is a retain and a release): operators
    /// that apply held events in time order call it a few events ahead, so the misses on events
    /// held since their arrival overlap. An `Event`'s only stored property is its storage
    /// reference, so `p` holds the object's address.
    public static func prefetch(at p: UnsafePointer<Event>) {
        let object = UnsafeRawPointer(p).load(as: UnsafeRawPointer.self)
        wakala_prefetch(object)
        wakala_prefetch(object + 64)
        wakala_prefetch(object + 128)
        wakala_prefetch(object + 192)
    }

    /// The Kafka record key of this event: `driver_id` for driver locations, else `tenant_id`.
    public var kafkaKey: String {
        if case .driverLocationUpdated(let d) = payload { return d.driverID }
        return tenantID
    }

    /// The order this event is about, for order and payment events (and `delivery.assigned`).
    public var orderID: String? {
        switch payload {
        case .orderCreated(let d): return d.orderID
        case .orderConfirmed(let d): return d.orderID
        case .orderProcessingStarted(let id), .orderReadyForPickup(let id): return id
        case .orderPickedUp(let d): return d.orderID
        case .orderCompleted(let d): return d.orderID
        case .orderCancelled(let d): return d.orderID
        case .paymentInitiated(let d): return d.orderID
        case .paymentSucceeded(let d): return d.orderID
        case .paymentFailed(let d): return d.orderID
        case .paymentRefunded(let d): return d.orderID
        case .deliveryAssigned(let d): return d.orderID
        default: return nil
        }
    }
}

/// `actor`: who caused the event.
public struct Actor: Hashable, Sendable {
    public var type: ActorType
    public var id: String
    public init(type: ActorType, id: String) { self.type = type; self.id = id }
}

/// The typed `data` of each catalog event.
public enum Payload: Sendable {
    case tenantCreated(TenantCreated)
    case tenantTierChanged(TenantTierChanged)
    case whatsappMessageReceived(WhatsAppMessageReceived)
    case orderCreated(OrderCreated)
    case orderConfirmed(OrderConfirmed)
    /// `order.processing_started` {order_id}
    case orderProcessingStarted(orderID: String)
    /// `order.ready_for_pickup` {order_id}
    case orderReadyForPickup(orderID: String)
    case orderPickedUp(OrderPickedUp)
    case orderCompleted(OrderCompleted)
    case orderCancelled(OrderCancelled)
    case paymentInitiated(PaymentInitiated)
    case paymentSucceeded(PaymentSucceeded)
    case paymentFailed(PaymentFailed)
    case paymentRefunded(PaymentRefunded)
    case deliveryAssigned(DeliveryAssigned)
    case deliveryPickedUp(DeliveryPickedUp)
    case deliveryCompleted(DeliveryCompleted)
    case deliveryCancelled(DeliveryCancelled)
    case driverLocationUpdated(DriverLocationUpdated)
    case usageRecorded(UsageRecorded)
    case inventoryUpdated(InventoryUpdated)
    case notificationSent(NotificationSent)
}

public struct TenantCreated: Hashable, Sendable {
    public var name: String
    public var tier: Tier
    /// IANA zone; `Africa/Johannesburg` when not given.
    public var timezone: String
    /// ISO 4217; `ZAR` when not given.
    public var currency: String
    public init(name: String, tier: Tier, timezone: String = TenantZone.defaultIdentifier, currency: String = "ZAR") {
        self.name = name; self.tier = tier; self.timezone = timezone; self.currency = currency
    }
}

public struct TenantTierChanged: Hashable, Sendable {
    public var tier: Tier
    public var previousTier: Tier
    public init(tier: Tier, previousTier: Tier) { self.tier = tier; self.previousTier = previousTier }
}

public struct WhatsAppMessageReceived: Hashable, Sendable {
    public var messageID: String
    /// E.164 phone number of the sender.
    public var from: String
    public var type: MessageType
    /// `received_at` in UTC milliseconds.
    public var receivedAt: EpochMillis
    public init(messageID: String, from: String, type: MessageType, receivedAt: EpochMillis) {
        self.messageID = messageID; self.from = from; self.type = type; self.receivedAt = receivedAt
    }
}

public struct OrderItem: Hashable, Sendable {
    public var productID: String
    public var name: String?
    public var quantity: Int64
    public var unitPrice: Money
    public var vendorID: String?
    public init(productID: String, name: String? = nil, quantity: Int64, unitPrice: Money, vendorID: String? = nil) {
        self.productID = productID; self.name = name; self.quantity = quantity
        self.unitPrice = unitPrice; self.vendorID = vendorID
    }
    /// quantity × unit_price.
    @inlinable public var lineTotal: Money { Money(cents: quantity &* unitPrice.cents) }
}

public struct OrderCreated: Hashable, Sendable {
    public var orderID: String
    public var customerID: String
    public var items: [OrderItem]
    public var subtotal: Money
    public var deliveryFee: Money
    public var tax: Money
    public var discount: Money
    public var totalAmount: Money
    public var paymentMethod: OrderPaymentMethod
    public var source: OrderSource?
    public init(orderID: String, customerID: String, items: [OrderItem], subtotal: Money, deliveryFee: Money,
                tax: Money, discount: Money, totalAmount: Money, paymentMethod: OrderPaymentMethod,
                source: OrderSource? = nil) {
        self.orderID = orderID; self.customerID = customerID; self.items = items; self.subtotal = subtotal
        self.deliveryFee = deliveryFee; self.tax = tax; self.discount = discount; self.totalAmount = totalAmount
        self.paymentMethod = paymentMethod; self.source = source
    }
    /// Σ quantity.
    public var itemCount: Int64 { items.reduce(0) { $0 + $1.quantity } }
}

public struct OrderConfirmed: Hashable, Sendable {
    public var orderID: String
    public var vendorID: String
    public init(orderID: String, vendorID: String) { self.orderID = orderID; self.vendorID = vendorID }
}

public struct OrderPickedUp: Hashable, Sendable {
    public var orderID: String
    public var deliveryID: String
    public init(orderID: String, deliveryID: String) { self.orderID = orderID; self.deliveryID = deliveryID }
}

public struct OrderCompleted: Hashable, Sendable {
    public var orderID: String
    public var deliveryID: String?
    public init(orderID: String, deliveryID: String? = nil) { self.orderID = orderID; self.deliveryID = deliveryID }
}

public struct OrderCancelled: Hashable, Sendable {
    public var orderID: String
    public var reason: String
    public var cancelledBy: String?
    public init(orderID: String, reason: String, cancelledBy: String? = nil) {
        self.orderID = orderID; self.reason = reason; self.cancelledBy = cancelledBy
    }
}

public struct PaymentInitiated: Hashable, Sendable {
    public var paymentID: String
    public var orderID: String
    public var amount: Money
    public var method: PaymentMethod
    public var gateway: PaymentGateway
    public init(paymentID: String, orderID: String, amount: Money, method: PaymentMethod, gateway: PaymentGateway) {
        self.paymentID = paymentID; self.orderID = orderID; self.amount = amount; self.method = method; self.gateway = gateway
    }
}

public struct PaymentSucceeded: Hashable, Sendable {
    public var paymentID: String
    public var orderID: String
    public var amount: Money
    public var transactionID: String
    public init(paymentID: String, orderID: String, amount: Money, transactionID: String) {
        self.paymentID = paymentID; self.orderID = orderID; self.amount = amount; self.transactionID = transactionID
    }
}

public struct PaymentFailed: Hashable, Sendable {
    public var paymentID: String
    public var orderID: String
    public var errorCode: String
    public var errorMessage: String?
    public init(paymentID: String, orderID: String, errorCode: String, errorMessage: String? = nil) {
        self.paymentID = paymentID; self.orderID = orderID; self.errorCode = errorCode; self.errorMessage = errorMessage
    }
}

public struct PaymentRefunded: Hashable, Sendable {
    public var paymentID: String
    public var orderID: String
    public var amount: Money
    public init(paymentID: String, orderID: String, amount: Money) {
        self.paymentID = paymentID; self.orderID = orderID; self.amount = amount
    }
}

public struct DeliveryAssigned: Hashable, Sendable {
    public var deliveryID: String
    public var orderID: String
    public var driverID: String
    public var pickup: GeoPoint
    public var dropoff: GeoPoint
    public init(deliveryID: String, orderID: String, driverID: String, pickup: GeoPoint, dropoff: GeoPoint) {
        self.deliveryID = deliveryID; self.orderID = orderID; self.driverID = driverID
        self.pickup = pickup; self.dropoff = dropoff
    }
}

public struct DeliveryPickedUp: Hashable, Sendable {
    public var deliveryID: String
    public var driverID: String
    public init(deliveryID: String, driverID: String) { self.deliveryID = deliveryID; self.driverID = driverID }
}

public struct DeliveryCompleted: Hashable, Sendable {
    public var deliveryID: String
    public var driverID: String
    public var signature: String?
    public var photoURL: String?
    public init(deliveryID: String, driverID: String, signature: String? = nil, photoURL: String? = nil) {
        self.deliveryID = deliveryID; self.driverID = driverID; self.signature = signature; self.photoURL = photoURL
    }
}

public struct DeliveryCancelled: Hashable, Sendable {
    public var deliveryID: String
    public var reason: String?
    public init(deliveryID: String, reason: String? = nil) { self.deliveryID = deliveryID; self.reason = reason }
}

public struct DriverLocationUpdated: Hashable, Sendable {
    public var driverID: String
    public var location: GeoPoint
    public var speedMps: Double?
    public var heading: Double?
    public var accuracyM: Double?
    public init(driverID: String, location: GeoPoint, speedMps: Double? = nil, heading: Double? = nil, accuracyM: Double? = nil) {
        self.driverID = driverID; self.location = location; self.speedMps = speedMps
        self.heading = heading; self.accuracyM = accuracyM
    }
}

public struct UsageRecorded: Hashable, Sendable {
    public var resource: QuotaResource
    /// A number ≥ 0 (calls, products, GB or users).
    public var amount: Double
    public var endpoint: String?
    public init(resource: QuotaResource, amount: Double, endpoint: String? = nil) {
        self.resource = resource; self.amount = amount; self.endpoint = endpoint
    }
}

public struct InventoryUpdated: Hashable, Sendable {
    public var productID: String
    public var vendorID: String
    public var oldQuantity: Int64
    public var newQuantity: Int64
    public var reason: String
    public init(productID: String, vendorID: String, oldQuantity: Int64, newQuantity: Int64, reason: String) {
        self.productID = productID; self.vendorID = vendorID; self.oldQuantity = oldQuantity
        self.newQuantity = newQuantity; self.reason = reason
    }
}

public struct NotificationSent: Hashable, Sendable {
    public var notificationID: String
    public var recipient: String
    public var channel: NotificationChannel
    public var template: String
    public init(notificationID: String, recipient: String, channel: NotificationChannel, template: String) {
        self.notificationID = notificationID; self.recipient = recipient; self.channel = channel; self.template = template
    }
}

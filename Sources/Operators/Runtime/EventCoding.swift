import Domain

/// Events in snapshots: operators that hold events until the watermark passes them (the order
/// lifecycle, quotas, delivery tracking) write them out with their state.
extension Event: SnapshotCodable {
    public func encode(to w: inout SnapshotWriter) {
        w.write(eventID); w.write(type.rawValue); w.write(minorVersion); w.write(time); w.write(tenantID)
        w.write(correlationID); w.write(causationID)
        w.write(actor != nil)
        if let actor { w.write(actor.type.rawValue); w.write(actor.id) }
        switch payload {
        case .tenantCreated(let d): w.write(d.name); w.write(d.tier.rawValue); w.write(d.timezone); w.write(d.currency)
        case .tenantTierChanged(let d): w.write(d.tier.rawValue); w.write(d.previousTier.rawValue)
        case .whatsappMessageReceived(let d): w.write(d.messageID); w.write(d.from); w.write(d.type.rawValue); w.write(d.receivedAt)
        case .orderCreated(let d):
            w.write(d.orderID); w.write(d.customerID); w.write(d.items.count)
            for i in d.items { w.write(i.productID); w.write(i.name); w.write(i.quantity); w.write(i.unitPrice.cents); w.write(i.vendorID) }
            for m in [d.subtotal, d.deliveryFee, d.tax, d.discount, d.totalAmount] { w.write(m.cents) }
            w.write(d.paymentMethod.rawValue); w.write(d.source?.rawValue)
        case .orderConfirmed(let d): w.write(d.orderID); w.write(d.vendorID)
        case .orderProcessingStarted(let id), .orderReadyForPickup(let id): w.write(id)
        case .orderPickedUp(let d): w.write(d.orderID); w.write(d.deliveryID)
        case .orderCompleted(let d): w.write(d.orderID); w.write(d.deliveryID)
        case .orderCancelled(let d): w.write(d.orderID); w.write(d.reason); w.write(d.cancelledBy)
        case .paymentInitiated(let d): w.write(d.paymentID); w.write(d.orderID); w.write(d.amount.cents); w.write(d.method.rawValue); w.write(d.gateway.rawValue)
        case .paymentSucceeded(let d): w.write(d.paymentID); w.write(d.orderID); w.write(d.amount.cents); w.write(d.transactionID)
        case .paymentFailed(let d): w.write(d.paymentID); w.write(d.orderID); w.write(d.errorCode); w.write(d.errorMessage)
        case .paymentRefunded(let d): w.write(d.paymentID); w.write(d.orderID); w.write(d.amount.cents)
        case .deliveryAssigned(let d):
            w.write(d.deliveryID); w.write(d.orderID); w.write(d.driverID)
            w.write(d.pickup.lat); w.write(d.pickup.lng); w.write(d.dropoff.lat); w.write(d.dropoff.lng)
        case .deliveryPickedUp(let d): w.write(d.deliveryID); w.write(d.driverID)
        case .deliveryCompleted(let d): w.write(d.deliveryID); w.write(d.driverID); w.write(d.signature); w.write(d.photoURL)
        case .deliveryCancelled(let d): w.write(d.deliveryID); w.write(d.reason)
        case .driverLocationUpdated(let d):
            w.write(d.driverID); w.write(d.location.lat); w.write(d.location.lng); w.write(d.speedMps); w.write(d.heading); w.write(d.accuracyM)
        case .usageRecorded(let d): w.write(d.resource.rawValue); w.write(d.amount); w.write(d.endpoint)
        case .inventoryUpdated(let d): w.write(d.productID); w.write(d.vendorID); w.write(d.oldQuantity); w.write(d.newQuantity); w.write(d.reason)
        case .notificationSent(let d): w.write(d.notificationID); w.write(d.recipient); w.write(d.channel.rawValue); w.write(d.template)
        }
    }

    public init(from r: inout SnapshotReader) throws {
        func e<E: RawRepresentable>(_: E.Type, _ s: String) throws -> E where E.RawValue == String {
            guard let v = E(rawValue: s) else { throw SnapshotError.corrupt("unknown value \(s)") }
            return v
        }
        let id = try r.readString()
        let type = try e(EventType.self, try r.readString())
        let minor = try r.readInt()
        let time = try r.readInt64()
        let tenant = try r.readString()
        let corr = try r.readOptional(String.self)
        let cause = try r.readOptional(String.self)
        let actor = try r.readBool() ? Actor(type: try e(ActorType.self, try r.readString()), id: try r.readString()) : nil
        func money() throws -> Money { Money(cents: try r.readInt64()) }
        let payload: Payload
        switch type {
        case .tenantCreated:
            payload = .tenantCreated(TenantCreated(name: try r.readString(), tier: try e(Tier.self, try r.readString()),
                                                   timezone: try r.readString(), currency: try r.readString()))
        case .tenantTierChanged:
            payload = .tenantTierChanged(TenantTierChanged(tier: try e(Tier.self, try r.readString()), previousTier: try e(Tier.self, try r.readString())))
        case .whatsappMessageReceived:
            payload = .whatsappMessageReceived(WhatsAppMessageReceived(messageID: try r.readString(), from: try r.readString(),
                                                                       type: try e(MessageType.self, try r.readString()), receivedAt: try r.readInt64()))
        case .orderCreated:
            let oid = try r.readString(), cid = try r.readString()
            var items: [OrderItem] = []
            for _ in 0..<(try r.readInt()) {
                items.append(OrderItem(productID: try r.readString(), name: try r.readOptional(String.self), quantity: try r.readInt64(),
                                       unitPrice: try money(), vendorID: try r.readOptional(String.self)))
            }
            let sub = try money(), fee = try money(), tax = try money(), disc = try money(), total = try money()
            let method = try e(OrderPaymentMethod.self, try r.readString())
            let source = try r.readOptional(String.self).map { try e(OrderSource.self, $0) }
            payload = .orderCreated(OrderCreated(orderID: oid, customerID: cid, items: items, subtotal: sub, deliveryFee: fee, tax: tax,
                                                 discount: disc, totalAmount: total, paymentMethod: method, source: source))
        case .orderConfirmed: payload = .orderConfirmed(OrderConfirmed(orderID: try r.readString(), vendorID: try r.readString()))
        case .orderProcessingStarted: payload = .orderProcessingStarted(orderID: try r.readString())
        case .orderReadyForPickup: payload = .orderReadyForPickup(orderID: try r.readString())
        case .orderPickedUp: payload = .orderPickedUp(OrderPickedUp(orderID: try r.readString(), deliveryID: try r.readString()))
        case .orderCompleted: payload = .orderCompleted(OrderCompleted(orderID: try r.readString(), deliveryID: try r.readOptional(String.self)))
        case .orderCancelled:
            payload = .orderCancelled(OrderCancelled(orderID: try r.readString(), reason: try r.readString(), cancelledBy: try r.readOptional(String.self)))
        case .paymentInitiated:
            payload = .paymentInitiated(PaymentInitiated(paymentID: try r.readString(), orderID: try r.readString(), amount: try money(),
                                                         method: try e(PaymentMethod.self, try r.readString()), gateway: try e(PaymentGateway.self, try r.readString())))
        case .paymentSucceeded:
            payload = .paymentSucceeded(PaymentSucceeded(paymentID: try r.readString(), orderID: try r.readString(), amount: try money(), transactionID: try r.readString()))
        case .paymentFailed:
            payload = .paymentFailed(PaymentFailed(paymentID: try r.readString(), orderID: try r.readString(), errorCode: try r.readString(), errorMessage: try r.readOptional(String.self)))
        case .paymentRefunded:
            payload = .paymentRefunded(PaymentRefunded(paymentID: try r.readString(), orderID: try r.readString(), amount: try money()))
        case .deliveryAssigned:
            let did = try r.readString(), oid = try r.readString(), drv = try r.readString()
            let p = GeoPoint(lat: try r.readDouble(), lng: try r.readDouble()), d = GeoPoint(lat: try r.readDouble(), lng: try r.readDouble())
            payload = .deliveryAssigned(DeliveryAssigned(deliveryID: did, orderID: oid, driverID: drv, pickup: p, dropoff: d))
        case .deliveryPickedUp: payload = .deliveryPickedUp(DeliveryPickedUp(deliveryID: try r.readString(), driverID: try r.readString()))
        case .deliveryCompleted:
            payload = .deliveryCompleted(DeliveryCompleted(deliveryID: try r.readString(), driverID: try r.readString(),
                                                           signature: try r.readOptional(String.self), photoURL: try r.readOptional(String.self)))
        case .deliveryCancelled: payload = .deliveryCancelled(DeliveryCancelled(deliveryID: try r.readString(), reason: try r.readOptional(String.self)))
        case .driverLocationUpdated:
            payload = .driverLocationUpdated(DriverLocationUpdated(driverID: try r.readString(), location: GeoPoint(lat: try r.readDouble(), lng: try r.readDouble()),
                                                                   speedMps: try r.readOptional(Double.self), heading: try r.readOptional(Double.self),
                                                                   accuracyM: try r.readOptional(Double.self)))
        case .usageRecorded:
            payload = .usageRecorded(UsageRecorded(resource: try e(QuotaResource.self, try r.readString()), amount: try r.readDouble(), endpoint: try r.readOptional(String.self)))
        case .inventoryUpdated:
            payload = .inventoryUpdated(InventoryUpdated(productID: try r.readString(), vendorID: try r.readString(), oldQuantity: try r.readInt64(),
                                                         newQuantity: try r.readInt64(), reason: try r.readString()))
        case .notificationSent:
            payload = .notificationSent(NotificationSent(notificationID: try r.readString(), recipient: try r.readString(),
                                                         channel: try e(NotificationChannel.self, try r.readString()), template: try r.readString()))
        }
        self.init(eventID: id, type: type, minorVersion: minor, time: time, tenantID: tenant, correlationID: corr,
                  causationID: cause, actor: actor, payload: payload)
    }
}

extension Timestamped: SnapshotCodable where Value: SnapshotCodable {
    public func encode(to w: inout SnapshotWriter) { w.write(time); w.write(value) }
    public init(from r: inout SnapshotReader) throws { self.init(time: try r.readInt64(), value: try r.read(Value.self)) }
}

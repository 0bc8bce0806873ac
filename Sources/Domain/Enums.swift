/// Closed value sets of the event catalog (CONTRACT §1). A value outside its set is rejected
/// with reason `invalid_value`.

/// Who caused an event (`actor.type`).
public enum ActorType: String, CaseIterable, Sendable, Codable { case user, system, service }

/// The kind of an inbound WhatsApp message.
public enum MessageType: String, CaseIterable, Sendable, Codable { case text, image, interactive, location }

/// How the customer chose to pay when ordering (`order.created.payment_method`).
public enum OrderPaymentMethod: String, CaseIterable, Sendable, Codable {
    case card, eft, cash
    case mobileMoney = "mobile_money"
}

/// Where an order was placed.
public enum OrderSource: String, CaseIterable, Sendable, Codable { case whatsapp, web, ussd, mobile }

/// The instrument of a payment (`payment.initiated.method`).
public enum PaymentMethod: String, CaseIterable, Sendable, Codable {
    case card
    case instantEFT = "instant_eft"
    case bankTransfer = "bank_transfer"
    case ussd
    case mobileMoney = "mobile_money"
    case cashOnDelivery = "cash_on_delivery"
}

/// The payment gateway.
public enum PaymentGateway: String, CaseIterable, Sendable, Codable { case paystack, ozow, mpesa, cash }

/// How a notification was sent.
public enum NotificationChannel: String, CaseIterable, Sendable, Codable { case whatsapp, sms, email }

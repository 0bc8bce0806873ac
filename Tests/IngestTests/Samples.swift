import Domain
@testable import Ingest

/// Hand-written records for decoder tests: one valid record per catalog event type.
enum Samples {
    /// A small generated stream's records, then one hand-written record per catalog type.
    static func generatedAndValid(seed: UInt64, tenants: Int, ordersPerDay: Int, every nth: Int = 1) -> [[UInt8]] {
        var config = GeneratorConfig()
        config.seed = seed
        config.tenants = tenants
        config.ordersPerDay = ordersPerDay
        var gen = StreamGenerator(config)
        let generated = gen.generateAll().enumerated().filter { $0.offset % nth == 0 }.map(\.element.value)
        return generated + valid.map { Array(envelope($0.0, $0.1).utf8) }
    }

    static func envelope(_ type: String, _ data: String, extra: String = "") -> String {
        """
        {"event_id":"evt-1","event_type":"\(type)","version":"1.0","timestamp":"2026-03-01T10:00:00+02:00",\
        "tenant_id":"t-1","correlation_id":"corr-1","causation_id":null,"actor":{"type":"user","id":"u-1"}\(extra),\
        "data":\(data),"metadata":{"source":"test","destination":["a","b"],"priority":"high"}}
        """
    }

    static let order = """
        {"order_id":"o-1","customer_id":"c-1","items":[\
        {"product_id":"p-1","name":"Kota","quantity":2,"unit_price":35.5,"vendor_id":"v-1"},\
        {"product_id":"p-2","quantity":1,"unit_price":"17.99"}],\
        "subtotal":"88.99","delivery_fee":15,"tax":0,"discount":"3.99","total_amount":100,\
        "payment_method":"card","source":"whatsapp"}
        """

    /// (event type, data) for every catalog type.
    static let valid: [(String, String)] = [
        ("tenant.created", #"{"name":"Spaza","tier":"premium","timezone":"Africa/Nairobi","currency":"KES"}"#),
        ("tenant.tier_changed", #"{"tier":"enterprise","previous_tier":"premium"}"#),
        ("whatsapp.message.received", #"{"message_id":"wamid.1","from":"+27821234567","type":"text","content":{"body":"Sawubona"},"received_at":"2026-03-01T07:59:59Z"}"#),
        ("order.created", order),
        ("order.confirmed", #"{"order_id":"o-1","vendor_id":"v-1"}"#),
        ("order.processing_started", #"{"order_id":"o-1"}"#),
        ("order.ready_for_pickup", #"{"order_id":"o-1"}"#),
        ("order.picked_up", #"{"order_id":"o-1","delivery_id":"d-1"}"#),
        ("order.completed", #"{"order_id":"o-1"}"#),
        ("order.cancelled", #"{"order_id":"o-1","reason":"customer_changed_mind","cancelled_by":"c-1"}"#),
        ("payment.initiated", #"{"payment_id":"pay-1","order_id":"o-1","amount":"100.00","method":"instant_eft","gateway":"ozow"}"#),
        ("payment.succeeded", #"{"payment_id":"pay-1","order_id":"o-1","amount":100,"transaction_id":"tx-1"}"#),
        ("payment.failed", #"{"payment_id":"pay-1","order_id":"o-1","error_code":"insufficient_funds"}"#),
        ("payment.refunded", #"{"payment_id":"pay-1","order_id":"o-1","amount":0.5}"#),
        ("delivery.assigned", #"{"delivery_id":"d-1","order_id":"o-1","driver_id":"drv-1","pickup":{"lat":-26.2485,"lng":27.854},"dropoff":{"lat":-26.26,"lng":27.87}}"#),
        ("delivery.picked_up", #"{"delivery_id":"d-1","driver_id":"drv-1"}"#),
        ("delivery.completed", #"{"delivery_id":"d-1","driver_id":"drv-1","signature":"sig","photo_url":"https://x/y.jpg"}"#),
        ("delivery.cancelled", #"{"delivery_id":"d-1"}"#),
        ("driver.location_updated", #"{"driver_id":"drv-1","lat":-26.2485,"lng":27.854,"speed_mps":8.5,"heading":90,"accuracy_m":5}"#),
        ("usage.recorded", #"{"resource":"api_calls","amount":120,"endpoint":"/v1/orders"}"#),
        ("inventory.updated", #"{"product_id":"p-1","vendor_id":"v-1","old_quantity":10,"new_quantity":8,"reason":"sale"}"#),
        ("notification.sent", #"{"notification_id":"n-1","recipient":"+27821234567","channel":"whatsapp","template":"order_confirmed"}"#),
    ]
}

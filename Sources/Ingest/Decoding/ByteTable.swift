#if canImport(Glibc)
import Glibc
#endif
import Domain

/// A closed set of string values matched against raw bytes with `memcmp`, without building a
/// `String` or walking `String.UTF8View` generically (the decoder's enum lookups).
struct ByteTable<E: Sendable>: Sendable {
    private let entries: [(bytes: [UInt8], value: E)]
    /// The accepted names, for error details.
    let names: String

    init(_ values: [E], name: (E) -> String) {
        entries = values.map { (Array(name($0).utf8), $0) }
        names = values.map(name).joined(separator: ", ")
    }

    @inline(__always)
    func match(_ b: UnsafeRawBufferPointer) -> E? {
        for e in entries where e.bytes.count == b.count {
            if e.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0 }) { return e.value }
        }
        return nil
    }
}

extension ByteTable where E: CaseIterable & RawRepresentable, E.RawValue == String {
    init(_ values: [E] = Array(E.allCases)) { self.init(values, name: \.rawValue) }
}

/// The closed sets of the catalog as byte tables.
enum Tables {
    static let eventType = ByteTable<EventType>()
    static let tier = ByteTable<Tier>()
    static let actorType = ByteTable<ActorType>()
    static let messageType = ByteTable<MessageType>()
    static let orderPaymentMethod = ByteTable<OrderPaymentMethod>()
    static let orderSource = ByteTable<OrderSource>()
    static let paymentMethod = ByteTable<PaymentMethod>()
    static let gateway = ByteTable<PaymentGateway>()
    static let channel = ByteTable<NotificationChannel>()
    /// `usage.recorded` reports these; orders are counted from `order.created`.
    static let usageResource = ByteTable<QuotaResource>([.apiCalls, .products, .storageGB, .concurrentUsers])
}

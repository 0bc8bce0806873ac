import Domain

/// What `wakala generate` makes: the size of the world and the imperfections of the stream.
public struct GeneratorConfig: Sendable {
    /// Same seed, same bytes.
    public var seed: UInt64 = 1
    /// Number of tenants (businesses).
    public var tenants: Int = 5
    /// Days of activity.
    public var days: Int = 1
    /// Average orders per tenant per day (scaled by tier: enterprise sells more).
    public var ordersPerDay: Int = 40
    /// First day of the stream, local midnight in Africa/Johannesburg, as UTC ms.
    public var start: EpochMillis = RFC3339.parse("2026-03-01T00:00:00+02:00")!
    /// Bounded out-of-order arrival: each record arrives up to this many ms after its event time.
    public var disorderMillis: Int64 = 0
    /// Fraction of records delivered twice (byte-identical re-deliveries).
    public var duplicates: Double = 0
    /// Fraction of records followed by a malformed record (bad-input rules of CONTRACT §1).
    public var malformed: Double = 0
    /// Seconds between driver location updates while on a delivery.
    public var locationIntervalSeconds: Int = 10
    /// Only tenant events and `order.created` (a large order history for serving benchmarks:
    /// the rest of each order's life is simulated but not emitted).
    public var ordersOnly = false
    /// Customers per tenant (nil: 40 to 160, drawn from the seed).
    public var customers: Int?

    public init() {}
}

/// One generated record, ready for a file line or a Kafka message.
public struct GeneratedRecord: Sendable {
    /// Kafka topic of the event's family.
    public var topic: String
    /// Kafka key: tenant id, or driver id on `driver-locations`.
    public var key: String
    /// The JSON value.
    public var value: [UInt8]
    /// Event time (ms), or the original's for a malformed copy.
    public var eventTime: EpochMillis
    /// Arrival time (ms): event time plus disorder.
    public var arrival: EpochMillis
    /// Tie-breaker in generation order.
    var seq: Int
}

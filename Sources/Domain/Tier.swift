/// A tenant's subscription tier (CONTRACT §2.3).
public enum Tier: String, CaseIterable, Sendable, Codable {
    case basic, premium, enterprise

    /// The hard limit of `resource` for this tier; `nil` means unlimited.
    public func limit(_ resource: QuotaResource) -> Int64? {
        switch (self, resource) {
        case (.enterprise, _): return nil
        case (.basic, .apiCalls): return 1000
        case (.premium, .apiCalls): return 10000
        case (.basic, .orders): return 500
        case (.premium, .orders): return 5000
        case (.basic, .products): return 100
        case (.premium, .products): return 1000
        case (.basic, .storageGB): return 5
        case (.premium, .storageGB): return 50
        case (.basic, .concurrentUsers): return 10
        case (.premium, .concurrentUsers): return 100
        }
    }

    /// Requests per minute allowed on the HTTP API (CONTRACT §3.2).
    public var requestsPerMinute: Int {
        switch self {
        case .basic: return 100
        case .premium: return 1000
        case .enterprise: return 10000
        }
    }
}

/// A metered resource (CONTRACT §2.3).
public enum QuotaResource: String, CaseIterable, Sendable, Codable, HashedByCase {
    /// Σ `usage.recorded` amount over a sliding hour of event time.
    case apiCalls = "api_calls"
    /// Count of `order.created` in the calendar month of the tenant's timezone.
    case orders
    /// Gauge: the latest `usage.recorded` amount.
    case products
    /// Gauge.
    case storageGB = "storage_gb"
    /// Gauge.
    case concurrentUsers = "concurrent_users"

    /// The soft limit is this fraction of the hard limit: 80 %.
    public static let softLimitPercent: Int64 = 80
}

/// An order's state (CONTRACT §2.2).
public enum OrderStatus: String, CaseIterable, Sendable, Codable, HashedByCase {
    case pending, confirmed, processing
    case readyForPickup = "ready_for_pickup"
    case delivering, completed, cancelled

    /// No transition leaves it (completed, cancelled).
    public var isTerminal: Bool { self == .completed || self == .cancelled }
}

/// The latest payment event of an order.
public enum PaymentStatus: String, CaseIterable, Sendable, Codable {
    case initiated, succeeded, failed, refunded
}

/// The order state machine's transition table (CONTRACT §2.2), without guards.
public enum OrderTransitions {
    /// The state an event moves an order to, from the states it may come from.
    public static func target(of type: EventType) -> (from: Set<OrderStatus>, to: OrderStatus)? {
        switch type {
        case .orderConfirmed: return (fromPending, .confirmed)
        case .orderProcessingStarted: return (fromConfirmed, .processing)
        case .orderReadyForPickup: return (fromProcessing, .readyForPickup)
        case .orderPickedUp: return (fromReady, .delivering)
        case .orderCompleted: return (fromDelivering, .completed)
        case .orderCancelled: return (cancellable, .cancelled)
        default: return nil
        }
    }

    // Built once (a set literal per order event allocated and hashed on every transition).
    private static let fromPending: Set<OrderStatus> = [.pending]
    private static let fromConfirmed: Set<OrderStatus> = [.confirmed]
    private static let fromProcessing: Set<OrderStatus> = [.processing]
    private static let fromReady: Set<OrderStatus> = [.readyForPickup]
    private static let fromDelivering: Set<OrderStatus> = [.delivering]
    private static let cancellable: Set<OrderStatus> = [.pending, .confirmed, .processing]
}

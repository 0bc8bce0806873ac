/// An order's state (CONTRACT §2.2).
public enum OrderStatus: String, CaseIterable, Sendable, Codable {
    case pending, confirmed, processing
    case readyForPickup = "ready_for_pickup"
    case delivering, completed, cancelled
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
        case .orderConfirmed: return ([.pending], .confirmed)
        case .orderProcessingStarted: return ([.confirmed], .processing)
        case .orderReadyForPickup: return ([.processing], .readyForPickup)
        case .orderPickedUp: return ([.readyForPickup], .delivering)
        case .orderCompleted: return ([.delivering], .completed)
        case .orderCancelled: return ([.pending, .confirmed, .processing], .cancelled)
        default: return nil
        }
    }
}

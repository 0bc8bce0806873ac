/// Sizes of the per-key state the operators hold, from the types' memory layouts (bytes, before
/// hash-table load factor and the heap allocations of strings over 15 bytes and of arrays).
public enum StateFootprint {
    /// Per dedupe key: its dictionary entry (key + first-seen + expiry) and its place in an
    /// expiry bucket.
    public static var dedupeKey: Int {
        MemoryLayout<String>.stride + MemoryLayout<KeyedState<String, Int64>.Slot>.stride + MemoryLayout<String>.stride
    }

    /// Per open order in the state machine: its entry, without history entries and held events.
    public static var openOrder: Int {
        MemoryLayout<String>.stride + MemoryLayout<OrderLifecycle.Order>.stride
    }

    /// Per status-history entry of an order.
    public static var historyEntry: Int { MemoryLayout<OrderLifecycle.HistoryEntry>.stride }

    /// Per event held until the watermark passes it.
    public static var heldEvent: Int { MemoryLayout<Timestamped<Domain.Event>>.stride }
}

import Domain

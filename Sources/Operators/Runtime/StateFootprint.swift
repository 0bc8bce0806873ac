/// Sizes of the per-key state the operators hold, from the types' memory layouts (bytes, before
/// hash-table load factor and the heap allocations of strings over 15 bytes and of arrays).
public enum StateFootprint {
    /// Per dedupe key: its log entry (key, first seen, expiry) and its 8-byte index slot at the
    /// index's load (see ``SeenKeys/bytesPerKey``).
    public static var dedupeKey: ClosedRange<Int> { SeenKeys.bytesPerKey }

    /// Per open order in the state machine: its entry, without history entries and held events.
    public static var openOrder: Int {
        MemoryLayout<String>.stride + MemoryLayout<OrderLifecycle.Order>.stride
    }

    /// Per status-history entry of an order.
    public static var historyEntry: Int { MemoryLayout<OrderLifecycle.HistoryEntry>.stride }

    /// Per event held until the watermark passes it: its place in the buffer (the event itself
    /// is shared by every operator holding it, see ``event``).
    public static var heldEvent: Int { MemoryLayout<Timestamped<Domain.Event>>.stride }

    /// One event's shared storage (object header + envelope + payload inline), before its
    /// strings over 15 bytes and item arrays.
    public static var event: Int { Domain.Event.storageBytes }
}

import Domain

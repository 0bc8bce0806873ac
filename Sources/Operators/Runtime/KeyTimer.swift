import Domain

/// An event-time timer for a key, ordered by (time, key): the heap entry of operators that wake a
/// key when the watermark passes its next held event (order lifecycle, quotas).
struct KeyTimer: Comparable {
    var time: EpochMillis
    var key: FastKey
    static func < (a: KeyTimer, b: KeyTimer) -> Bool { a.time != b.time ? a.time < b.time : a.key < b.key }
}

/// A derived event and where it sorts: (decision time, key, sequence within the key) — the order
/// the keyed domain operators emit in, whatever the arrival order, batching or partitioning.
struct Decision {
    var time: EpochMillis
    var key: String
    var seq: Int
    var event: DerivedEvent
}

extension Array where Element == Decision {
    /// The events in (time, key, sequence) order.
    func inOrder() -> [DerivedEvent] {
        sorted { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.key != b.key { return a.key < b.key }
            return a.seq < b.seq
        }.map(\.event)
    }
}

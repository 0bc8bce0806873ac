import Domain

/// Events an operator holds until the watermark passes them, handed back in event-time order
/// (ties: `event_id`) — the order every domain operator applies events in, whatever the arrival
/// order, batching or partitioning.
public struct HeldEvents {
    var events: [Timestamped<Event>] = []

    public init() {}

    public var isEmpty: Bool { events.isEmpty }
    public var count: Int { events.count }

    public mutating func append(_ r: Timestamped<Event>) { events.append(r) }

    /// The earliest held event (after the last ``takeDue(_:)``, which leaves them sorted).
    public var first: Timestamped<Event>? { events.first }

    /// Removes and returns, in (time, event_id) order, the events at or before `watermark`.
    public mutating func takeDue(_ watermark: EpochMillis) -> ArraySlice<Timestamped<Event>> {
        events.sort { $0.time != $1.time ? $0.time < $1.time : $0.value.eventID < $1.value.eventID }
        let due = events.prefix { $0.time <= watermark }.count
        defer { events.removeFirst(due) }
        return events[..<due]
    }
}

import Domain

/// A value at an event time: the unit that flows between operators. Operators take and emit
/// batches of these (`[Timestamped<V>]`), with `V` a concrete type so the hot path has no
/// existential, lock or actor hop per record.
public struct Timestamped<Value> {
    /// Event time, UTC milliseconds.
    public var time: EpochMillis
    public var value: Value

    @inlinable public init(time: EpochMillis, value: Value) { self.time = time; self.value = value }
}

extension Timestamped: Sendable where Value: Sendable {}
extension Timestamped: Equatable where Value: Equatable {}

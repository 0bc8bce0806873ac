/// An incremental aggregate over the records of a window (Flink's `AggregateFunction`).
/// Concrete types keep the per-record path free of existentials: the window operator is generic
/// over its aggregation and is specialised by the compiler.
public protocol Aggregation: Sendable {
    associatedtype Input
    associatedtype Accumulator: SnapshotCodable
    associatedtype Output

    /// The accumulator of an empty window.
    func initial() -> Accumulator
    /// Adds one record.
    func add(_ input: Input, to acc: inout Accumulator)
    /// Merges two accumulators (session windows that grow together).
    func merge(_ other: Accumulator, into acc: inout Accumulator)
    /// The window's result.
    func output(_ acc: Accumulator) -> Output
}

/// Count and integer sum: the shape of most rollup measures (orders and revenue in cents).
public struct CountSum: Aggregation {
    public struct State: SnapshotCodable, Equatable, Sendable {
        public var count: Int64
        public var sum: Int64
        public init(count: Int64, sum: Int64) { self.count = count; self.sum = sum }
        public func encode(to w: inout SnapshotWriter) { w.write(count); w.write(sum) }
        public init(from r: inout SnapshotReader) throws { count = try r.readInt64(); sum = try r.readInt64() }
    }

    public init() {}
    @inlinable public func initial() -> State { State(count: 0, sum: 0) }
    @inlinable public func add(_ input: Int64, to acc: inout State) { acc.count += 1; acc.sum &+= input }
    @inlinable public func merge(_ other: State, into acc: inout State) { acc.count += other.count; acc.sum &+= other.sum }
    @inlinable public func output(_ acc: State) -> State { acc }
}

/// The bytes of accepted records as they arrived, by event id: one buffer for all of them (no
/// array per record). The Parquet `events` table stores each event's JSON from here.
public struct RawRecords: Sendable {
    private var bytes: [UInt8] = []
    private var at: [String: Range<Int>] = [:]

    public init() {}

    public var isEmpty: Bool { at.isEmpty }

    /// Keeps the first record seen with this event id (a duplicate's bytes are not kept).
    public mutating func add(_ eventID: String, _ record: UnsafeRawBufferPointer) {
        guard at[eventID] == nil else { return }
        let start = bytes.count
        bytes.append(contentsOf: record)
        at[eventID] = start..<bytes.count
    }

    /// Calls `body` with the record's bytes (empty when none was kept for this id).
    public func withRecord<R>(_ eventID: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let r = at[eventID] else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[r])) }
    }
}

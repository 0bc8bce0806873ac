/// The bytes of accepted records as they arrived, in arrival order with their event ids: one
/// buffer for all of them (no array per record, no hash table). The Parquet `events` table stores
/// each event's JSON from here, reading with a ``Reader`` in the order the events reach it.
public struct RawRecords: Sendable {
    private var bytes: [UInt8] = []
    private(set) var ids: [String] = []
    private var ends: [Int] = []

    public init() {}

    /// Room for this many records of this many bytes (what the last drain held), so the buffers
    /// are not grown by doubling again every drain.
    public init(reservingRecords records: Int, bytes count: Int) {
        bytes.reserveCapacity(count)
        ids.reserveCapacity(records)
        ends.reserveCapacity(records)
    }

    public var isEmpty: Bool { ids.isEmpty }
    public var count: Int { ids.count }
    public var byteCount: Int { bytes.count }

    /// Keeps a record (a duplicate id's later records are kept too; readers take the first).
    public mutating func add(_ eventID: String, _ record: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: record)
        ids.append(eventID)
        ends.append(bytes.count)
    }

    /// Looks records up by event id, each id at most once per reader (the first record with that
    /// id; asked again, an id may get a later duplicate's record). Events
    /// asked for in arrival order — what dedupe lets through is a subsequence of what arrived —
    /// are found by walking forward and comparing ids, with no hashing; the few records a walk
    /// steps over (dropped duplicates) are noted, and an id among them, or one not ahead of the
    /// walk (asked out of order), is looked up in a table of first occurrences, built once.
    public struct Reader {
        let raw: RawRecords
        private var next = 0
        private var skipped: Set<String> = []
        private var table: [String: Int]?

        init(_ raw: RawRecords) { self.raw = raw }

        /// Calls `body` with the record's bytes (empty when none was kept for this id).
        public mutating func withRecord<R>(_ eventID: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            guard let i = index(eventID) else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
            return try raw.bytes.withUnsafeBytes { all in
                try body(UnsafeRawBufferPointer(rebasing: all[(i == 0 ? 0 : raw.ends[i - 1])..<raw.ends[i]]))
            }
        }

        private mutating func index(_ id: String) -> Int? {
            if table == nil, skipped.isEmpty || !skipped.contains(id) {
                var i = next
                while i < raw.ids.count, raw.ids[i] != id { i += 1 }
                if i < raw.ids.count {
                    for k in next..<i { skipped.insert(raw.ids[k]) }
                    next = i + 1
                    return i
                }
            }
            if table == nil {
                var t: [String: Int] = [:]
                t.reserveCapacity(raw.ids.count)
                for (k, v) in raw.ids.enumerated().reversed() { t[v] = k }
                table = t
            }
            return table![id]
        }
    }

    public var reader: Reader { Reader(self) }
}

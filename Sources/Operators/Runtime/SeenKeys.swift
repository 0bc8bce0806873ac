import CSupport
import Domain

/// The state of dedupe: string keys (event ids), each with a value (first seen) and an expiry in
/// event time; a key is evicted once the watermark passes its expiry.
///
/// Our own structure rather than `Dictionary<String, …>` + a timer heap, because dedupe touches
/// every event and Swift's `Dictionary<String, …>` measured ~500 ns per insert and ~200 ns per
/// lookup here (SipHash over the string plus a cache miss per probe) — a third of all operators'
/// time. Two parts:
///
/// - **The log**: entries (key, value, expiry) in arrival order, in a ring buffer. Appending and
///   evicting walk it front to back, so it streams through the cache.
/// - **The index**: an open-addressing table (linear probing) of 8-byte slots, each a 32-bit tag
///   of the key's hash and the 32-bit log position of its entry — the only part touched at
///   random, 5× smaller than a slot holding key and times. A probe compares the key itself only
///   when the tag matches.
///
/// Eviction is lazy: it only pops the log's front (while its expiry has passed). A slot whose
/// position is before the log's front is a tombstone: probes walk over it, inserts reuse it, and
/// when live slots + tombstones pass half the table it is rebuilt (in slot order, so the writes
/// stream) — no random probe per evicted key, which was a cache miss per event.
///
/// The hash is ``FastKey/hash(_:)``, a multiply–xorshift mixer seeded per process (the table's
/// layout is never written anywhere), so crafted keys cannot be aimed at one probe chain.
///
/// Arrival is event-time order up to the out-of-orderness bound, so a key can outlive its expiry
/// by at most that much (plus allowed lateness for a late-but-accepted event) — which changes
/// memory only, never results: dedupe compares the stored first-seen time with the TTL itself.
public struct SeenKeys {
    struct Entry {
        var key: String
        var value: Int64
        var expiresAt: Int64
        /// Superseded by a later entry of the same key (set again with another expiry).
        var dead = false
    }

    /// 0 = empty; else tag (high 32 bits, top bit set) | log position (low 32 bits, truncated).
    private var slots: [UInt64]
    private var mask: Int
    /// Slots not empty (live + tombstones).
    private var used = 0
    private var log = Log()
    /// Absolute position of the log's first entry (positions only grow).
    private var head = 0
    /// Position at the last rebuild (a tombstone's truncated position must not come round again).
    private var rebuiltAt = 0
    /// Live keys.
    public private(set) var count = 0
    public let name: String
    /// Incremental checkpoints (``changedSegments()``): the log positions up to which entries were
    /// handed out as segments, and the segments handed out that eviction has not passed yet.
    private var written = 0
    private var segments: [(start: Int, end: Int)] = []

    public init(name: String, capacity: Int = 1024) {
        self.name = name
        var c = 16
        while c < capacity * 4 { c <<= 1 }
        slots = Array(repeating: 0, count: c)
        mask = c - 1
    }

    /// The key's hash (``FastKey/hash(_:)``, the one mixer of the hot path's tables).
    @inline(__always)
    public static func fingerprint(_ key: String) -> UInt64 { FastKey.hash(key) }

    /// The slot's tag bits for a hash: its high half, top bit set (so an occupied slot is never 0;
    /// the home index uses the tag's low bits, tables stay under 2^31 slots).
    @inline(__always) private static func tag(_ hash: UInt64) -> UInt64 { (hash | 0x8000_0000_0000_0000) & 0xFFFF_FFFF_0000_0000 }
    /// A slot's home index, from its tag (so rebuilding need not read the log).
    @inline(__always) private static func home(_ slot: UInt64, _ mask: Int) -> Int { Int(truncatingIfNeeded: slot >> 32) & mask }
    /// The log index of a slot's entry; `log.count` or more for a tombstone.
    @inline(__always) private static func logIndex(_ slot: UInt64, head: Int) -> Int {
        Int(UInt32(truncatingIfNeeded: slot) &- UInt32(truncatingIfNeeded: head))
    }

    /// Where `key` is: the slot holding it (found), or where to put it (the first tombstone on
    /// its probe path, else the empty slot ending it).
    @inline(__always)
    private func find(_ key: String, _ hash: UInt64) -> (index: Int, found: Bool, empty: Bool) {
        let tag = Self.tag(hash), head = head, n = log.count
        return slots.withUnsafeBufferPointer { slots in
            var i = Self.home(tag, mask)
            var free = -1
            while true {
                let s = slots[i]
                if s == 0 { return free < 0 ? (i, false, true) : (free, false, false) }
                let j = Self.logIndex(s, head: head)
                if j >= n {
                    if free < 0 { free = i }
                } else if s & 0xFFFF_FFFF_0000_0000 == tag && log[j].key == key {
                    return (i, true, false)
                }
                i = (i + 1) & mask
            }
        }
    }

    /// The value of `key`, if held.
    public subscript(key: String) -> Int64? {
        let r = find(key, Self.fingerprint(key))
        return r.found ? log[Self.logIndex(slots[r.index], head: head)].value : nil
    }

    /// Starts loading the home slots of these hashes into the cache.
    @inline(__always)
    public func prefetch(_ hashes: some Sequence<UInt64>) {
        slots.withUnsafeBufferPointer { b in
            for h in hashes { wakala_prefetch(b.baseAddress! + Self.home(Self.tag(h), mask)) }
        }
    }

    /// Inserts `key` when absent and returns nil; when present, leaves it and returns its value.
    @inline(__always)
    public mutating func insertIfAbsent(_ key: String, _ value: Int64, expiresAt: Int64) -> Int64? {
        insertIfAbsent(key, fingerprint: Self.fingerprint(key), value, expiresAt: expiresAt)
    }

    /// ``insertIfAbsent(_:_:expiresAt:)`` with the key's ``fingerprint(_:)`` already computed.
    @inline(__always)
    public mutating func insertIfAbsent(_ key: String, fingerprint hash: UInt64, _ value: Int64, expiresAt: Int64) -> Int64? {
        let r = find(key, hash)
        if r.found { return log[Self.logIndex(slots[r.index], head: head)].value }
        add(key, hash, value, expiresAt, at: r.index, empty: r.empty)
        return nil
    }

    /// Sets `key` to `value`, expiring when the watermark reaches `expiresAt`.
    public mutating func set(_ key: String, _ value: Int64, expiresAt: Int64) { set(key, value, expiresAt: expiresAt, inPlace: true) }

    /// `inPlace`: a key set again with the same expiry keeps its log position (live updates);
    /// otherwise it always moves to the log's end (a restore replaying the log as it was).
    @inline(__always)
    private mutating func set(_ key: String, _ value: Int64, expiresAt: Int64, inPlace: Bool) {
        let hash = Self.fingerprint(key)
        let r = find(key, hash)
        guard r.found else { return add(key, hash, value, expiresAt, at: r.index, empty: r.empty) }
        let j = Self.logIndex(slots[r.index], head: head)
        if inPlace, log[j].expiresAt == expiresAt { log[j].value = value; return }
        // A new entry at the end; the old one is passed over when eviction reaches it.
        log[j].dead = true
        slots[r.index] = Self.tag(hash) | UInt64(UInt32(truncatingIfNeeded: head + log.count))
        log.append(Entry(key: key, value: value, expiresAt: expiresAt))
    }

    @inline(__always)
    private mutating func add(_ key: String, _ hash: UInt64, _ value: Int64, _ expiresAt: Int64, at index: Int, empty: Bool) {
        let position = head + log.count
        slots[index] = Self.tag(hash) | UInt64(UInt32(truncatingIfNeeded: position))
        log.append(Entry(key: key, value: value, expiresAt: expiresAt))
        count += 1
        if empty { used += 1 }
        if used * 2 > slots.count || position - rebuiltAt > 1 << 30 { rebuild() }
    }

    /// Evicts the keys whose expiry is at or before `watermark` (see the type's note on order):
    /// their slots become tombstones.
    public mutating func advance(to watermark: EpochMillis) {
        while let e = log.first, e.expiresAt <= watermark {
            if !e.dead { count -= 1 }
            log.removeFirst()
            head += 1
        }
    }

    /// A table without tombstones, twice as large when live keys fill over a quarter of it.
    private mutating func rebuild() {
        let old = slots, head = head, n = log.count
        let size = count * 4 > old.count ? old.count * 2 : old.count
        var fresh = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        fresh.withUnsafeMutableBufferPointer { fresh in
            for s in old where s != 0 && Self.logIndex(s, head: head) < n {
                var i = Self.home(s, mask)
                while fresh[i] != 0 { i = (i + 1) & mask }
                fresh[i] = s
            }
        }
        slots = fresh
        self.mask = mask
        used = count
        rebuiltAt = head + n
    }

    /// A FIFO ring of entries over one array (Deque's storage is a class reached through
    /// non-inlined code: a retain and a release per access, measured on every event).
    struct Log {
        private var items = [Entry](repeating: Entry(key: "", value: 0, expiresAt: 0), count: 16)
        private var start = 0
        private(set) var count = 0

        var first: Entry? { count == 0 ? nil : items[start] }

        subscript(i: Int) -> Entry {
            get { items[(start + i) & (items.count - 1)] }
            set { items[(start + i) & (items.count - 1)] = newValue }
        }

        mutating func append(_ e: Entry) {
            if count == items.count { grow() }
            items[(start + count) & (items.count - 1)] = e
            count += 1
        }

        /// Doubles the ring, keeping `start`: the buffer grows in place (its entries moved, not
        /// copied), then the wrapped part `..<start` moves to just past the old end. Copying the
        /// whole ring into a new array retained and released every key at each doubling.
        private mutating func grow() {
            let n = items.count
            items.reserveCapacity(n * 2)
            items.append(contentsOf: repeatElement(Entry(key: "", value: 0, expiresAt: 0), count: n))
            items.withUnsafeMutableBufferPointer { b in
                for i in 0..<start { swap(&b[i], &b[n + i]) }
            }
        }

        mutating func removeFirst() {
            items[start] = Entry(key: "", value: 0, expiresAt: 0)
            start = (start + 1) & (items.count - 1)
            count -= 1
        }

    }

    /// Slots in the index (for tests: memory follows live keys, not keys ever seen).
    var indexCapacity: Int { slots.count }

    /// Bytes held per live key: its log entry and its index slot at the table's load (live keys
    /// fill 1/8 to 1/2 of it, tombstones the rest up to half), the log's dead entries (keys set
    /// again) not counted.
    public static var bytesPerKey: ClosedRange<Int> {
        let entry = MemoryLayout<Entry>.stride, slot = MemoryLayout<UInt64>.stride
        return (entry + slot * 2)...(entry + slot * 8)
    }

    /// Versioned, compressed bytes of every key, value and expiry, in (expiry, key) order — a
    /// total order on the live keys (each is held once), so the same state always gives the same
    /// bytes. The log is in arrival order, which is nearly expiry order (arrival follows event
    /// time up to the disorder bound): the sort finds long sorted runs and compares keys only
    /// on equal expiries. (Key order sorted ~100,000 strings at every checkpoint: a tenth of the
    /// worker's time when checkpoints are frequent.)
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        var order: [(expiresAt: Int64, index: Int32)] = []
        order.reserveCapacity(count)
        for i in 0..<log.count {
            let e = log[i]
            if !e.dead { order.append((e.expiresAt, Int32(i))) }
        }
        order.sort { a, b in a.expiresAt != b.expiresAt ? a.expiresAt < b.expiresAt : log[Int(a.index)].key < log[Int(b.index)].key }
        w.write(order.count)
        for o in order {
            let e = log[Int(o.index)]
            w.write(e.key); w.write(e.value); w.write(e.expiresAt)
        }
        return try SnapshotEnvelope.seal(operator: name, w.bytes)
    }

    // MARK: incremental checkpoints

    /// The format of a segment's bytes.
    static let segmentVersion = 1

    /// The envelope name of ``headSnapshot()``'s bytes.
    private var headName: String { name + "/log" }

    /// Incremental checkpoints: the log goes out in segments (``changedSegments()``) and the
    /// snapshot holds only where the log starts — what a checkpoint writes follows the keys
    /// that arrived since the last one, not every live key (a day of event ids in production).
    public func headSnapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(head)
        return try SnapshotEnvelope.seal(operator: headName, w.bytes)
    }

    /// The log's entries appended since the last call, as one segment (keyed by its first log
    /// position), and the removal of every segment eviction has passed. Taken at the same cut as
    /// ``headSnapshot()``; a key set again is a new entry in a later segment, which supersedes
    /// the earlier one on restore as it did here.
    public mutating func changedSegments() throws -> [StateEntry] {
        var out: [StateEntry] = []
        while let first = segments.first, first.end <= head {
            out.append(StateEntry(key: String(first.start), value: nil))
            segments.removeFirst()
        }
        let end = head + log.count, start = max(written, head)
        if end > start {
            var w = SnapshotWriter()
            w.write(Self.segmentVersion)
            w.write(end - start)
            for p in start..<end {
                let e = log[p - head]
                w.write(e.key); w.write(e.value); w.write(e.expiresAt)
            }
            out.append(StateEntry(key: String(start), value: try SnapshotEnvelope.seal(operator: name + "/segment", w.bytes)))
            segments.append((start, end))
        }
        written = end
        return out
    }

    /// After ``restore(_:)`` of a ``headSnapshot()``: the segments of the same checkpoint, replayed
    /// into the log in order at their own positions (entries before the head were evicted).
    public mutating func restoreSegments(_ entries: [StateEntry]) throws {
        var decoded: [(start: Int, items: [(key: String, value: Int64, expiresAt: Int64)])] = []
        for e in entries {
            guard let start = Int(e.key), let bytes = e.value else { throw SnapshotError.corrupt("dedupe segment \(e.key)") }
            var r = SnapshotReader(try SnapshotEnvelope.open(operator: name + "/segment", bytes))
            let v = try r.readInt()
            guard v == Self.segmentVersion else { throw SnapshotError.unsupportedVersion(v) }
            let n = try r.readInt()
            guard n >= 0 else { throw SnapshotError.corrupt("negative segment length") }
            var items: [(key: String, value: Int64, expiresAt: Int64)] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append((try r.readString(), try r.readInt64(), try r.readInt64())) }
            guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes in a dedupe segment") }
            decoded.append((start, items))
        }
        decoded.sort { $0.start < $1.start }
        segments = []
        for (start, items) in decoded {
            let end = start + items.count
            guard end > head else { continue } // wholly evicted
            guard start <= head + log.count else {
                throw SnapshotError.corrupt("dedupe segments leave a gap at log position \(head + log.count) (next starts at \(start))")
            }
            for (i, it) in items.enumerated() where start + i >= head + log.count {
                // As the log had it: a key already held has its earlier entry superseded.
                set(it.key, it.value, expiresAt: it.expiresAt, inPlace: false)
            }
            segments.append((start, end))
        }
        written = head + log.count
    }


    /// Replaces the state with a snapshot's: every key (``snapshot()``), or an empty log starting
    /// where ``headSnapshot()`` says, to be filled by ``restoreSegments(_:)``.
    public mutating func restore(_ bytes: [UInt8]) throws {
        if SnapshotEnvelope.operatorName(of: bytes) == headName {
            var r = SnapshotReader(try SnapshotEnvelope.open(operator: headName, bytes))
            let h = try r.readInt()
            guard h >= 0, r.isAtEnd else { throw SnapshotError.corrupt("dedupe log head") }
            self = SeenKeys(name: name)
            head = h
            rebuiltAt = h
            written = h
            return
        }
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: name, bytes))
        let n = try r.readInt()
        guard n >= 0 else { throw SnapshotError.corrupt("negative key count") }
        var entries: [(key: String, value: Int64, expiresAt: Int64)] = []
        for _ in 0..<n { entries.append((try r.readString(), try r.readInt64(), try r.readInt64())) }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
        self = SeenKeys(name: name, capacity: n)
        for e in entries.sorted(by: { ($0.expiresAt, $0.key) < ($1.expiresAt, $1.key) }) {
            set(e.key, e.value, expiresAt: e.expiresAt)
        }
    }
}

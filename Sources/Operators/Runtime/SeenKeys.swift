import CSupport
import Domain
import DequeModule

/// The state of dedupe: string keys (event ids), each with a value (first seen) and an expiry in
/// event time; a key is evicted once the watermark passes its expiry.
///
/// Our own table rather than `Dictionary<String, …>` + a timer heap, because dedupe touches every
/// event and Swift's `Dictionary<String, …>` measured ~500 ns per insert and ~200 ns per lookup
/// here (SipHash over the string plus a cache miss per probe) — a third of all operators' time.
/// This is an open-addressing table with linear probing and backward-shift deletion; each slot
/// holds a 64-bit fingerprint of the key next to the key, so a probe compares the strings only
/// when fingerprints match. The fingerprint is seeded per process (the table's layout is never
/// written anywhere), so crafted keys cannot be aimed at one probe chain.
///
/// The table is far larger than the CPU caches, so almost every probe is a cache miss; callers
/// with a batch compute all fingerprints first and ``prefetch(_:)`` their home slots, so the
/// misses overlap instead of coming one after another (eviction does the same per chunk).
///
/// Expiry timers sit in a FIFO in arrival order. Arrival is event-time order up to the
/// out-of-orderness bound, so a key can outlive its expiry by at most that much (plus allowed
/// lateness for a late-but-accepted event) — which changes memory only, never results: dedupe
/// compares the stored first-seen time with the TTL itself.
public struct SeenKeys {
    struct Slot {
        /// 0 = empty.
        var fingerprint: UInt64
        var value: Int64
        var expiresAt: Int64
        var key: String
    }

    private var slots: [Slot]
    private var mask: Int
    public private(set) var count = 0
    private var timers = Deque<(expiresAt: Int64, fingerprint: UInt64)>()
    public let name: String
    private static let seed = UInt64.random(in: 1...UInt64.max)

    public init(name: String, capacity: Int = 1024) {
        self.name = name
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        slots = Array(repeating: Slot(fingerprint: 0, value: 0, expiresAt: 0, key: ""), count: c)
        mask = c - 1
    }

    /// Fingerprint of a key: 8 bytes at a time through a multiply–xorshift mixer; never 0.
    @inline(__always)
    static func fingerprint(_ key: String) -> UInt64 {
        var k = key
        return k.withUTF8 { b in
            var h = seed ^ (UInt64(b.count) &* 0x9E37_79B9_7F4A_7C15)
            let raw = UnsafeRawBufferPointer(b)
            var i = 0
            while i + 8 <= raw.count {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
                h ^= h >> 31
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < raw.count { tail |= UInt64(raw[i]) << shift; shift += 8; i += 1 }
            h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 29
            h = h &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 32
            return h | 1
        }
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always)
    private func find(_ key: String, _ fp: UInt64) -> (index: Int, found: Bool) {
        var i = Int(truncatingIfNeeded: fp) & mask
        while true {
            let f = slots[i].fingerprint
            if f == 0 { return (i, false) }
            if f == fp && slots[i].key == key { return (i, true) }
            i = (i + 1) & mask
        }
    }

    /// The value of `key`, if held.
    public subscript(key: String) -> Int64? {
        let r = find(key, Self.fingerprint(key))
        return r.found ? slots[r.index].value : nil
    }

    /// Starts loading the home slots of these fingerprints into the cache.
    @inline(__always)
    public func prefetch(_ fingerprints: some Sequence<UInt64>) {
        slots.withUnsafeBufferPointer { b in
            for fp in fingerprints { wakala_prefetch(b.baseAddress! + (Int(truncatingIfNeeded: fp) & mask)) }
        }
    }

    /// Inserts `key` when absent and returns nil; when present, leaves it and returns its value.
    @inline(__always)
    public mutating func insertIfAbsent(_ key: String, _ value: Int64, expiresAt: Int64) -> Int64? {
        insertIfAbsent(key, fingerprint: Self.fingerprint(key), value, expiresAt: expiresAt)
    }

    /// ``insertIfAbsent(_:_:expiresAt:)`` with the key's ``fingerprint(_:)`` already computed.
    @inline(__always)
    public mutating func insertIfAbsent(_ key: String, fingerprint fp: UInt64, _ value: Int64, expiresAt: Int64) -> Int64? {
        let r = find(key, fp)
        if r.found { return slots[r.index].value }
        slots[r.index] = Slot(fingerprint: fp, value: value, expiresAt: expiresAt, key: key)
        count += 1
        timers.append((expiresAt, fp))
        if count * 2 > slots.count { grow() }
        return nil
    }

    /// Sets `key` to `value`, expiring when the watermark reaches `expiresAt`.
    public mutating func set(_ key: String, _ value: Int64, expiresAt: Int64) {
        let fp = Self.fingerprint(key)
        let r = find(key, fp)
        if r.found {
            slots[r.index].value = value
            if slots[r.index].expiresAt == expiresAt { return }
            slots[r.index].expiresAt = expiresAt
        } else {
            slots[r.index] = Slot(fingerprint: fp, value: value, expiresAt: expiresAt, key: key)
            count += 1
        }
        timers.append((expiresAt, fp))
        if count * 2 > slots.count { grow() }
    }

    /// Evicts the keys whose expiry is at or before `watermark` (see the type's note on order).
    public mutating func advance(to watermark: EpochMillis) {
        var due: [(expiresAt: Int64, fingerprint: UInt64)] = []
        while timers.first.map({ $0.expiresAt <= watermark }) == true {
            due.removeAll(keepingCapacity: true)
            while due.count < 512, let t = timers.first, t.expiresAt <= watermark { due.append(timers.removeFirst()) }
            prefetch(due.lazy.map(\.fingerprint))
            for t in due {
                // The slot with this fingerprint and expiry (a key re-armed later has another
                // expiry and its own, later timer).
                var i = Int(truncatingIfNeeded: t.fingerprint) & mask
                while slots[i].fingerprint != 0 {
                    if slots[i].fingerprint == t.fingerprint && slots[i].expiresAt == t.expiresAt {
                        remove(at: i)
                        break
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// Backward-shift deletion: later entries of the probe chain move up, so no tombstones.
    private mutating func remove(at index: Int) {
        var hole = index
        var j = index
        while true {
            j = (j + 1) & mask
            let f = slots[j].fingerprint
            if f == 0 { break }
            let home = Int(truncatingIfNeeded: f) & mask
            // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
            let stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j)
            if stays { continue }
            slots[hole] = slots[j]
            hole = j
        }
        slots[hole] = Slot(fingerprint: 0, value: 0, expiresAt: 0, key: "")
        count -= 1
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(fingerprint: 0, value: 0, expiresAt: 0, key: ""), count: old.count * 2)
        mask = slots.count - 1
        for s in old where s.fingerprint != 0 {
            var i = Int(truncatingIfNeeded: s.fingerprint) & mask
            while slots[i].fingerprint != 0 { i = (i + 1) & mask }
            slots[i] = s
        }
    }

    /// Versioned, compressed bytes of every key, value and expiry (in key order, so the same
    /// state always gives the same bytes).
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        let held = slots.filter { $0.fingerprint != 0 }.sorted { $0.key < $1.key }
        w.write(held.count)
        for s in held { w.write(s.key); w.write(s.value); w.write(s.expiresAt) }
        return try SnapshotEnvelope.seal(operator: name, w.bytes)
    }

    /// Replaces the state with a snapshot's.
    public mutating func restore(_ bytes: [UInt8]) throws {
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

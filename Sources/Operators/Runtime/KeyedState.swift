import Domain
import HeapModule

/// Keyed state with event-time timers: each key holds a value and an expiry time; when the
/// watermark passes a key's expiry the key is evicted (and handed to the caller). Dedupe keeps
/// `event_id → first seen` here with a 24 h TTL; operators use it for any per-key state with a
/// lifetime. Re-arming a key's timer replaces the old one (stale timers are skipped when popped).
///
/// Timers are kept in one-second buckets (a small heap orders the buckets, a list holds each
/// bucket's keys), so arming a timer is an append rather than a heap insert compared on keys.
public struct KeyedState<Key: Hashable & Comparable & SnapshotCodable, Value: SnapshotCodable> {
    struct Slot {
        var value: Value
        var expiresAt: EpochMillis
    }

    static var bucketWidth: EpochMillis { 1000 }

    private var slots: [Key: Slot] = [:]
    /// Bucket start → keys armed to expire in [start, start + width).
    private var buckets: [EpochMillis: [Key]] = [:]
    private var bucketOrder = Heap<EpochMillis>()
    public let name: String

    public init(name: String) { self.name = name }

    /// Number of keys held.
    public var count: Int { slots.count }

    /// The value of `key`, if held.
    @inline(__always)
    public subscript(key: Key) -> Value? { slots[key]?.value }

    /// Sets `key` to `value`, expiring when the watermark reaches `expiresAt`.
    @inline(__always)
    public mutating func set(_ key: Key, _ value: Value, expiresAt: EpochMillis) {
        if let old = slots[key], old.expiresAt == expiresAt {
            slots[key]!.value = value
            return
        }
        slots[key] = Slot(value: value, expiresAt: expiresAt)
        let b = floorDiv(expiresAt, Self.bucketWidth).quotient * Self.bucketWidth
        if buckets[b] == nil { bucketOrder.insert(b) }
        buckets[b, default: []].append(key)
    }

    /// Removes `key` now.
    public mutating func remove(_ key: Key) { slots[key] = nil }

    /// Evicts every key whose expiry is at or before `watermark`; calls `evicted` for each, in
    /// (expiry, key) order.
    public mutating func advance(to watermark: EpochMillis, evicted: (Key, Value) -> Void = { _, _ in }) {
        var gone: [(EpochMillis, Key, Value)] = []
        while let b = bucketOrder.min, b <= watermark {
            _ = bucketOrder.removeMin()
            guard let keys = buckets.removeValue(forKey: b) else { continue }
            var keep: [Key] = []
            for k in keys {
                guard let s = slots[k], floorDiv(s.expiresAt, Self.bucketWidth).quotient * Self.bucketWidth == b else { continue } // re-armed or removed
                if s.expiresAt <= watermark {
                    slots[k] = nil
                    gone.append((s.expiresAt, k, s.value))
                } else {
                    keep.append(k) // same bucket, not due yet
                }
            }
            if !keep.isEmpty {
                buckets[b] = keep
                bucketOrder.insert(b)
                break // the rest of this bucket and every later one are after the watermark
            }
        }
        guard !gone.isEmpty else { return }
        gone.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        for (_, k, v) in gone { evicted(k, v) }
    }

    /// Versioned, compressed bytes of every key, value and expiry (deterministic order).
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        let keys = slots.keys.sorted()
        w.write(keys.count)
        for k in keys {
            let s = slots[k]!
            w.write(k); w.write(s.value); w.write(s.expiresAt)
        }
        return try SnapshotEnvelope.seal(operator: name, w.bytes)
    }

    /// Replaces the state with a snapshot's.
    public mutating func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: name, bytes))
        slots = [:]
        buckets = [:]
        bucketOrder = Heap()
        for _ in 0..<(try r.readInt()) {
            let k = try r.read(Key.self)
            let v = try r.read(Value.self)
            set(k, v, expiresAt: try r.readInt64())
        }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
    }
}

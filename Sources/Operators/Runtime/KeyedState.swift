import Domain
import HeapModule

/// Keyed state with event-time timers: each key holds a value and an expiry time; when the
/// watermark passes a key's expiry the key is evicted (and handed to the caller). Dedupe keeps
/// `event_id → first seen` here with a 24 h TTL; operators use it for any per-key state with a
/// lifetime. Re-arming a key's timer replaces the old one (stale timers are skipped when popped).
public struct KeyedState<Key: Hashable & Comparable & SnapshotCodable, Value: SnapshotCodable> {
    struct Slot {
        var value: Value
        var expiresAt: EpochMillis
    }

    struct Timer: Comparable {
        var time: EpochMillis
        var key: Key
        static func < (a: Timer, b: Timer) -> Bool { (a.time, a.key) < (b.time, b.key) }
    }

    private var slots: [Key: Slot] = [:]
    private var timers = Heap<Timer>()
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
        timers.insert(Timer(time: expiresAt, key: key))
    }

    /// Removes `key` now.
    public mutating func remove(_ key: Key) { slots[key] = nil }

    /// Evicts every key whose expiry is at or before `watermark`; calls `evicted` for each, in
    /// (expiry, key) order.
    public mutating func advance(to watermark: EpochMillis, evicted: (Key, Value) -> Void = { _, _ in }) {
        while let t = timers.min, t.time <= watermark {
            _ = timers.removeMin()
            guard let s = slots[t.key], s.expiresAt == t.time else { continue } // re-armed or removed
            slots[t.key] = nil
            evicted(t.key, s.value)
        }
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
        timers = Heap()
        for _ in 0..<(try r.readInt()) {
            let k = try r.read(Key.self)
            let v = try r.read(Value.self)
            set(k, v, expiresAt: try r.readInt64())
        }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
    }
}

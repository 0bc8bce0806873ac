import Domain
import HeapModule

/// Keys whose state has left memory for good (CONTRACT §2: state that can no longer change is
/// retired once the watermark has passed it + allowed lateness, its read model kept in Postgres),
/// remembered compactly — 8 bytes a key, a stable hash that survives restarts — so an event for
/// one later is dead-lettered as late instead of starting the key afresh (which would count it
/// twice). Stable (not ``FastKey``'s per-process seed): the set is part of checkpoints. Two keys
/// colliding in 64 bits (~1 in 10¹⁰ at 10⁶ retired keys) would make the second's events late.
public struct RetiredKeys: Sendable {
    public private(set) var hashes: Set<UInt64> = []

    public init() {}

    public var count: Int { hashes.count }

    /// FNV-1a over the key's text (`tenant/id`): the same on every machine and run.
    public static func hash(_ key: FastKey) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    public func contains(_ key: FastKey) -> Bool { !hashes.isEmpty && hashes.contains(Self.hash(key)) }
    public mutating func insert(_ key: FastKey) { hashes.insert(Self.hash(key)) }

    func encode(to w: inout SnapshotWriter) {
        w.write(hashes.count)
        for h in hashes.sorted() { w.write(h) }
    }

    init(from r: inout SnapshotReader) throws {
        for _ in 0..<(try r.readInt()) { hashes.insert(try r.readUInt64()) }
    }
}

/// When keys may retire: (time, key) entries popped once the watermark passes their time. An
/// entry is a candidate only — the owner checks the key still qualifies (it may have changed).
struct RetirementQueue {
    var heap = Heap<KeyTimer>()

    mutating func schedule(_ key: FastKey, at time: EpochMillis) { heap.insert(KeyTimer(time: time, key: key)) }

    /// Pops the candidates due at `watermark`.
    mutating func popDue(_ watermark: EpochMillis) -> [FastKey] {
        var out: [FastKey] = []
        while let t = heap.min, t.time <= watermark {
            _ = heap.removeMin()
            out.append(t.key)
        }
        return out
    }

    func encode(to w: inout SnapshotWriter) {
        w.write(heap.count)
        for t in heap.unordered.sorted() { w.write(t.time); w.write(t.key.text) }
    }

    init() {}

    init(from r: inout SnapshotReader) throws {
        for _ in 0..<(try r.readInt()) { heap.insert(KeyTimer(time: try r.readInt64(), key: FastKey(try r.readString()))) }
    }
}

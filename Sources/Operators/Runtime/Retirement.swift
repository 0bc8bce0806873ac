import Domain
import HeapModule

/// Keys whose state has left memory for good (CONTRACT §2: state that can no longer change is
/// retired once the watermark has passed it + allowed lateness, its read model kept in Postgres),
/// remembered compactly — 8 bytes a key, a stable hash that survives restarts — so an event for
/// one later is dead-lettered as late instead of starting the key afresh (which would count it
/// twice). Stable (not ``FastKey``'s per-process seed): the set is part of checkpoints. Two keys
/// colliding in 64 bits (~1 in 10¹⁰ at 10⁶ retired keys) would make the second's events late.
///
/// The one state that grows with history, so it is kept and checkpointed like a log-structured
/// merge tree: keys retired since the last cut in a small set, older ones in sorted runs of
/// 8 bytes a key (a `Set` costs ~2×), and with incremental checkpoints each run is one state
/// entry (``changedSegments(prefix:)``) — a checkpoint writes the keys retired since the one
/// before, plus now and then a merge of runs of similar size (each key rewritten about log₂ of the
/// history's size times, no merged run over ``maxMergedRun`` keys), instead of every key retired
/// since the pipeline started (a month of 50 tenants: ~120,000 keys, 1 MB, in every snapshot).
public struct RetiredKeys: Sendable {
    /// A sorted run of distinct hashes, one state entry once handed out.
    struct Run: Sendable {
        var id: Int
        var hashes: [UInt64]
        var saved: Bool
    }

    /// Oldest first; sizes roughly halve towards the end (merges keep them so).
    private(set) var runs: [Run] = []
    /// Retired since the last cut.
    private var recent: Set<UInt64> = []
    private var nextID = 0
    /// Runs handed out as entries and merged away since: deleted at the next checkpoint.
    private var dropped: [Int] = []

    /// Runs are merged (two at a time, the newer at least as large as the older) up to this many
    /// keys (8 MB): a checkpoint never rewrites more than that, and a long history is
    /// `count / maxMergedRun` runs plus a binary counter's worth below it.
    static let maxMergedRun = 1 << 20
    /// Keys retired without a checkpoint (a run with a full snapshot only) go into a sorted run at
    /// this many, for the 8 bytes a key.
    static let recentLimit = 1 << 16

    public init() {}

    /// Keys retired (a key is retired once).
    public var count: Int { runs.reduce(recent.count) { $0 + $1.hashes.count } }
    public var isEmpty: Bool { recent.isEmpty && runs.isEmpty }
    /// Sorted runs held (for tests and counters).
    public var runCount: Int { runs.count }

    public func contains(_ key: FastKey) -> Bool {
        guard !isEmpty else { return false }
        let h = key.stableHash
        if recent.contains(h) { return true }
        for r in runs where Self.search(r.hashes, h) { return true }
        return false
    }

    public mutating func insert(_ key: FastKey) {
        recent.insert(key.stableHash)
        if recent.count >= Self.recentLimit { cut() }
    }

    /// Binary search of a sorted run.
    static func search(_ a: [UInt64], _ h: UInt64) -> Bool {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if a[mid] < h { lo = mid + 1 } else { hi = mid }
        }
        return lo < a.count && a[lo] == h
    }

    /// The keys retired since the last cut become a run; then runs of similar size merge.
    mutating func cut() {
        guard !recent.isEmpty else { return }
        runs.append(Run(id: nextID, hashes: recent.sorted(), saved: false))
        nextID += 1
        recent.removeAll()
        while runs.count >= 2 {
            let b = runs[runs.count - 1], a = runs[runs.count - 2]
            guard b.hashes.count >= a.hashes.count, a.hashes.count + b.hashes.count <= Self.maxMergedRun else { break }
            runs.removeLast(2)
            for r in [a, b] where r.saved { dropped.append(r.id) }
            runs.append(Run(id: nextID, hashes: Self.merge(a.hashes, b.hashes), saved: false))
            nextID += 1
        }
    }

    /// Two sorted runs as one (a hash in both once).
    static func merge(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] < b[j] { out.append(a[i]); i += 1 }
            else if b[j] < a[i] { out.append(b[j]); j += 1 }
            else { out.append(a[i]); i += 1; j += 1 }
        }
        out.append(contentsOf: a[i...])
        out.append(contentsOf: b[j...])
        return out
    }

    /// Every hash, sorted and distinct (full snapshots).
    func all() -> [UInt64] {
        runs.reduce(recent.sorted()) { Self.merge($0, $1.hashes) }
    }

    /// A full snapshot's part: every key.
    func encode(to w: inout SnapshotWriter) {
        let all = all()
        w.write(all.count)
        for h in all { w.write(h) }
    }

    /// With incremental checkpoints the keys are entries; the snapshot's part says none.
    static func encodeNone(to w: inout SnapshotWriter) { w.write(0) }

    /// Reads ``encode(to:)``'s part. Keys read here (a full snapshot, or a checkpoint from before
    /// runs were entries) are new to the entries: the next ``changedSegments(prefix:)`` hands them out.
    init(from r: inout SnapshotReader) throws {
        let n = try r.readInt()
        guard n >= 0 else { throw SnapshotError.corrupt("negative retired key count") }
        for _ in 0..<n { recent.insert(try r.readUInt64()) }
    }

    /// The format of a run's entry.
    static let segmentVersion = 1

    /// Incremental checkpoints: the keys retired since the last call as a run's entry
    /// (`prefix` + its id), the runs merges made since, and the removal of the runs merged away.
    public mutating func changedSegments(prefix: String) throws -> [StateEntry] {
        cut()
        var out = dropped.map { StateEntry(key: prefix + String($0), value: nil) }
        dropped.removeAll()
        for i in runs.indices where !runs[i].saved {
            var w = SnapshotWriter()
            w.write(Self.segmentVersion)
            w.write(runs[i].hashes.count)
            for h in runs[i].hashes { w.write(h) }
            out.append(StateEntry(key: prefix + String(runs[i].id), value: try SnapshotEnvelope.seal(operator: "retired_keys", w.bytes)))
            runs[i].saved = true
        }
        return out
    }

    /// Whether an entry's key is a run's (`prefix` + digits).
    public static func isSegment(_ key: String, prefix: String) -> Bool {
        key.hasPrefix(prefix) && Int(key.dropFirst(prefix.count)) != nil
    }

    /// After ``init(from:)`` of the same checkpoint's snapshot: one run's entry.
    public mutating func restoreSegment(key: String, prefix: String, _ bytes: [UInt8]) throws {
        guard let id = Int(key.dropFirst(prefix.count)), id >= 0 else { throw SnapshotError.corrupt("retired keys entry \(key)") }
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: "retired_keys", bytes))
        let v = try r.readInt()
        guard v == Self.segmentVersion else { throw SnapshotError.unsupportedVersion(v) }
        let n = try r.readInt()
        guard n >= 0 else { throw SnapshotError.corrupt("negative run length in \(key)") }
        var hashes: [UInt64] = []
        hashes.reserveCapacity(n)
        for _ in 0..<n { hashes.append(try r.readUInt64()) }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes in \(key)") }
        guard zip(hashes, hashes.dropFirst()).allSatisfy({ $0 < $1 }) else { throw SnapshotError.corrupt("run \(key) is not sorted") }
        let at = runs.firstIndex { $0.id > id } ?? runs.count
        runs.insert(Run(id: id, hashes: hashes, saved: true), at: at)
        nextID = max(nextID, id + 1)
    }
}

extension FastKey {
    /// FNV-1a over the key's text (`tenant/id`): the same on every machine and run (unlike
    /// ``digest``, seeded per process), so it can stand for the key in checkpoints.
    public var stableHash: UInt64 { Self.fnv1a(text.utf8) }

    /// The ``stableHash`` of `FastKey(scope, id)` without building the key.
    public static func stableHash(_ scope: String, _ id: String) -> UInt64 {
        fnv1a(id.utf8, from: fnv1a(CollectionOfOne(UInt8(ascii: "/")), from: fnv1a(scope.utf8)))
    }

    @inline(__always)
    static func fnv1a<C: Sequence>(_ bytes: C, from start: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 where C.Element == UInt8 {
        var h = start
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
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

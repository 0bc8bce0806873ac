import Domain

/// Dedupe (CONTRACT §2.1): an event whose key was seen within the last TTL of event time is a
/// duplicate, dropped and counted. State is bounded: keys older than watermark − TTL are evicted.
/// Events of other types than `events` (when given), or without the key field, pass through.
///
/// Incremental checkpoints: the keys go out as segments of the arrival-order log (those that
/// arrived since the last checkpoint), a segment removed once eviction passes its end; the
/// snapshot keeps the count of duplicates and where the log starts.
public final class DedupeStage: IncrementalStage {
    public let name: String
    let key: EventField
    let ttl: Int64
    let types: EventTypeSet?
    var seen: SeenKeys
    var duplicates = 0
    private var fingerprints: [UInt64] = []

    public init(name: String, key: EventField = .eventID, ttl: Int64 = 86_400_000, types: EventTypeSet? = nil) {
        self.name = name
        self.key = key
        self.ttl = ttl
        self.types = types
        seen = SeenKeys(name: name)
    }

    public func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput) {
        // State passed inout: one exclusivity check per batch instead of one per event.
        var events = batch
        Self.run(&events, key: key, ttl: ttl, types: types, seen: &seen, duplicates: &duplicates,
                 fingerprints: &fingerprints)
        if out.events.isEmpty { out.events = events } else { out.events += events }
    }

    /// Drops the duplicates from `batch`, in place: when the runner hands the batch over (dedupe
    /// is the source's only reader) the kept events are neither copied nor retained again.
    private static func run(_ batch: inout [Timestamped<Event>], key: EventField, ttl: Int64, types: EventTypeSet?,
                            seen: inout SeenKeys, duplicates: inout Int, fingerprints: inout [UInt64]) {
        // Keys and fingerprints first, then the table's slots for all of them are prefetched, then
        // probed (SeenKeys: the probes are cache misses; this way they overlap). The default key
        // is read straight from each event (no event copy: a retain and a release apiece).
        var keys: [String?] = []
        keys.reserveCapacity(batch.count)
        fingerprints.removeAll(keepingCapacity: true)
        batch.withUnsafeBufferPointer { b in
            for i in b.indices {
                let k: String?
                if let types, !types.contains(b[i].value.type) {
                    k = nil
                } else if key == .eventID {
                    k = b[i].value.eventID
                } else {
                    k = key.text(of: b[i].value)
                }
                fingerprints.append(k.map(SeenKeys.fingerprint) ?? 0)
                keys.append(k)
            }
        }
        seen.prefetch(fingerprints)
        var kept = 0
        batch.withUnsafeMutableBufferPointer { b in
            for i in b.indices {
                if let k = keys[i] {
                    let t = b[i].time
                    // Evicted when the watermark passes first-seen + TTL (then it is older than wm − TTL).
                    if let first = seen.insertIfAbsent(k, fingerprint: fingerprints[i], t, expiresAt: t + ttl + 1) {
                        if abs(t - first) <= ttl {
                            duplicates += 1
                            continue
                        }
                        seen.set(k, t, expiresAt: t + ttl + 1)
                    }
                }
                if kept != i { b.swapAt(kept, i) }
                kept += 1
            }
        }
        batch.removeLast(batch.count - kept)
    }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        seen.advance(to: watermark)
    }

    public var counters: [(String, Int)] { [("duplicates", duplicates), ("keys", seen.count)] }

    /// Keys as log segments (``SeenKeys/changedSegments()``) instead of in every snapshot.
    private var segmented = false, fullSnapshot = false

    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(duplicates)
        let state = segmented && !fullSnapshot ? try seen.headSnapshot() : try seen.snapshot()
        w.write(state.count)
        return w.bytes + state
    }

    public func trackEntries() { segmented = true }
    public func includeEntriesInSnapshot(_ on: Bool) { fullSnapshot = on }
    public func changedEntries() throws -> [StateEntry] { segmented ? try seen.changedSegments() : [] }
    public func restoreEntries(_ entries: [StateEntry]) throws { try seen.restoreSegments(entries) }

    public func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(bytes)
        duplicates = try r.readInt()
        let n = try r.readInt()
        guard n >= 0, n <= bytes.count else { throw SnapshotError.truncated }
        try seen.restore(Array(bytes[(bytes.count - n)...]))
    }
}

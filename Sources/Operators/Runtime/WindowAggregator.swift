import Domain
import HeapModule

/// A keyed record: the key an operator groups by, and the value it aggregates.
public struct Keyed<Key, Value> {
    public var key: Key
    public var value: Value
    @inlinable public init(key: Key, value: Value) { self.key = key; self.value = value }
}

/// A window's result. `isUpdate` marks a re-firing caused by a record that arrived after the
/// window fired but within the allowed lateness (Flink's late firing).
public struct WindowResult<Key, Output> {
    public var key: Key
    public var window: Window
    public var value: Output
    public var isUpdate: Bool
}

extension Keyed: Sendable where Key: Sendable, Value: Sendable {}
extension Keyed: Equatable where Key: Equatable, Value: Equatable {}
extension WindowResult: Equatable where Key: Equatable, Output: Equatable {}
extension WindowResult: Sendable where Key: Sendable, Output: Sendable {}

/// Keyed event-time windows with an incremental aggregate: tumbling, hopping or session windows,
/// aligned to a timezone, firing when the watermark passes their end, re-firing for records
/// within the allowed lateness, and dropping state once the lateness has passed.
///
/// Results of one watermark advance are emitted in (window end, window start, key) order, so
/// the output sequence does not depend on batch sizes or on how partitions were interleaved.
public struct WindowAggregator<Key: Hashable & Comparable & SnapshotCodable, A: Aggregation> {
    public let name: String
    public let spec: WindowSpec
    public let allowedLateness: Int64
    public let aggregation: A

    struct Slot: Hashable {
        var key: Key
        var window: Window
    }

    struct Entry {
        var acc: A.Accumulator
        var fired: Bool
    }

    /// A pending timer: fire at the window end, or clean up at end + lateness.
    struct Timer: Comparable {
        var time: EpochMillis
        var cleanup: Bool
        var window: Window
        var key: Key
        static func < (a: Timer, b: Timer) -> Bool {
            if a.time != b.time { return a.time < b.time }
            if a.window != b.window { return a.window < b.window }
            if a.key != b.key { return a.key < b.key }
            return !a.cleanup && b.cleanup
        }
        static func == (a: Timer, b: Timer) -> Bool {
            a.time == b.time && a.cleanup == b.cleanup && a.window == b.window && a.key == b.key
        }
    }

    private var state: [Slot: Entry] = [:]
    /// Per key, its open session windows (session specs only), kept sorted by start.
    private var sessions: [Key: [Window]] = [:]
    private var timers = Heap<Timer>()
    private var defaultZone: TenantZone
    private var zones: [Key: TenantZone] = [:]
    /// The watermark this operator has seen last.
    public private(set) var watermark = WatermarkTracker.start
    /// Records dropped as late, counted.
    public private(set) var lateCount = 0

    public init(name: String, spec: WindowSpec, allowedLateness: Int64, zone: TenantZone = .johannesburg, aggregation: A) {
        self.name = name
        self.spec = spec
        self.allowedLateness = allowedLateness
        self.aggregation = aggregation
        self.defaultZone = zone
    }

    /// Aligns the windows of `key` to `zone` (e.g. a tenant's timezone) from now on.
    public mutating func setZone(_ zone: TenantZone, for key: Key) { zones[key] = zone }

    /// Open windows (including fired ones still inside the allowed lateness).
    public var openWindows: Int { state.count }

    /// Adds a batch. Records older than watermark − allowed lateness go to `late` and change no
    /// window; records for a window that already fired re-fire it into `out` at once.
    public mutating func process(_ batch: some Sequence<Timestamped<Keyed<Key, A.Input>>>,
                                 late: inout [Timestamped<Keyed<Key, A.Input>>],
                                 out: inout [WindowResult<Key, A.Output>]) {
        var zone = defaultZone // one copy per batch, not per record
        defer { defaultZone = zone }
        for r in batch {
            if watermark != WatermarkTracker.start && r.time < watermark &- allowedLateness {
                late.append(r)
                lateCount += 1
                continue
            }
            switch spec {
            case .session(let gap):
                addToSession(r, gap: gap, out: &out)
            case .tumbling(let size) where zones.isEmpty:
                add(r, to: WindowSpec.aligned(r.time, size: size, zone: &zone), out: &out)
            default:
                if !zones.isEmpty, var z = zones[r.value.key] {
                    spec.forEachWindow(containing: r.time, zone: &z) { w in add(r, to: w, out: &out) }
                    zones[r.value.key] = z
                } else {
                    spec.forEachWindow(containing: r.time, zone: &zone) { w in add(r, to: w, out: &out) }
                }
            }
        }
    }

    @inline(__always)
    private mutating func add(_ r: Timestamped<Keyed<Key, A.Input>>, to w: Window, out: inout [WindowResult<Key, A.Output>]) {
        let slot = Slot(key: r.value.key, window: w)
        let fired: Bool
        if let idx = state.index(forKey: slot) {
            aggregation.add(r.value.value, to: &state.values[idx].acc)
            fired = state.values[idx].fired
        } else {
            var acc = aggregation.initial()
            aggregation.add(r.value.value, to: &acc)
            // A window whose end the watermark already passed fires at once (late but allowed).
            fired = w.end <= watermark
            state[slot] = Entry(acc: acc, fired: fired)
            timers.insert(Timer(time: fired ? w.end &+ allowedLateness : w.end, cleanup: fired, window: w, key: r.value.key))
        }
        if fired {
            out.append(WindowResult(key: slot.key, window: w, value: aggregation.output(state[slot]!.acc), isUpdate: true))
        }
    }

    private mutating func addToSession(_ r: Timestamped<Keyed<Key, A.Input>>, gap: Int64, out: inout [WindowResult<Key, A.Output>]) {
        let key = r.value.key
        var merged = Window(start: r.time, end: r.time + gap)
        var acc = aggregation.initial()
        aggregation.add(r.value.value, to: &acc)
        var anyFired = false
        var list = sessions[key] ?? []
        var kept: [Window] = []
        for s in list {
            if s.start <= merged.end && merged.start <= s.end {
                let e = state.removeValue(forKey: Slot(key: key, window: s))!
                aggregation.merge(e.acc, into: &acc)
                anyFired = anyFired || e.fired
                merged = Window(start: min(s.start, merged.start), end: max(s.end, merged.end))
            } else {
                kept.append(s)
            }
        }
        // A merged session may now reach sessions it did not touch before: merge until stable.
        var changed = true
        while changed {
            changed = false
            for (i, s) in kept.enumerated() where s.start <= merged.end && merged.start <= s.end {
                let e = state.removeValue(forKey: Slot(key: key, window: s))!
                aggregation.merge(e.acc, into: &acc)
                anyFired = anyFired || e.fired
                merged = Window(start: min(s.start, merged.start), end: max(s.end, merged.end))
                kept.remove(at: i)
                changed = true
                break
            }
        }
        list = kept
        let idx = list.firstIndex { $0.start > merged.start } ?? list.count
        list.insert(merged, at: idx)
        sessions[key] = list
        let fired = merged.end <= watermark
        state[Slot(key: key, window: merged)] = Entry(acc: acc, fired: fired)
        timers.insert(Timer(time: fired ? merged.end &+ allowedLateness : merged.end, cleanup: fired, window: merged, key: key))
        if fired || (anyFired && merged.end <= watermark) {
            out.append(WindowResult(key: key, window: merged, value: aggregation.output(acc), isUpdate: true))
        }
    }

    /// Moves the watermark: fires windows whose end it passed (in end, start, key order) and
    /// drops windows whose end + allowed lateness it passed.
    public mutating func advance(to wm: EpochMillis, out: inout [WindowResult<Key, A.Output>]) {
        guard wm > watermark else { return }
        watermark = wm
        while let t = timers.min, t.time <= wm {
            _ = timers.removeMin()
            let slot = Slot(key: t.key, window: t.window)
            guard let entry = state[slot] else { continue } // merged away (sessions)
            if t.cleanup {
                guard entry.fired else { continue }
                drop(slot)
            } else {
                guard !entry.fired else { continue }
                state[slot]!.fired = true
                out.append(WindowResult(key: t.key, window: t.window, value: aggregation.output(entry.acc), isUpdate: false))
                let cleanupAt = t.window.end &+ allowedLateness
                if cleanupAt <= wm {
                    drop(slot)
                } else {
                    timers.insert(Timer(time: cleanupAt, cleanup: true, window: t.window, key: t.key))
                }
            }
        }
    }

    /// Forgets a window for good (its allowed lateness has passed).
    private mutating func drop(_ slot: Slot) {
        state[slot] = nil
        if case .session = spec {
            sessions[slot.key]?.removeAll { $0 == slot.window }
            if sessions[slot.key]?.isEmpty == true { sessions[slot.key] = nil }
        }
    }

    // MARK: snapshot

    /// All state as versioned, compressed bytes (deterministic for the same state).
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(watermark)
        w.write(lateCount)
        let slots = state.keys.sorted { ($0.key, $0.window) < ($1.key, $1.window) ? true : false }
        w.write(slots.count)
        for s in slots {
            let e = state[s]!
            w.write(s.key)
            w.write(s.window)
            w.write(e.fired)
            w.write(e.acc)
        }
        let zoneKeys = zones.keys.sorted()
        w.write(zoneKeys.count)
        for k in zoneKeys { w.write(k); w.write(zones[k]!.identifier) }
        return try SnapshotEnvelope.seal(operator: name, w.bytes)
    }

    /// Replaces all state with a snapshot's.
    public mutating func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: name, bytes))
        watermark = try r.readInt64()
        lateCount = try r.readInt()
        state = [:]
        sessions = [:]
        timers = Heap()
        let n = try r.readInt()
        for _ in 0..<n {
            let key = try r.read(Key.self)
            let window = try r.read(Window.self)
            let fired = try r.readBool()
            let acc = try r.read(A.Accumulator.self)
            state[Slot(key: key, window: window)] = Entry(acc: acc, fired: fired)
            timers.insert(Timer(time: fired ? window.end &+ allowedLateness : window.end, cleanup: fired, window: window, key: key))
            if case .session = spec { sessions[key, default: []].append(window) }
        }
        for k in sessions.keys { sessions[k]!.sort { $0.start < $1.start } }
        zones = [:]
        for _ in 0..<(try r.readInt()) {
            let k = try r.read(Key.self)
            let id = try r.readString()
            guard let z = TenantZone(identifier: id) else { throw SnapshotError.corrupt("unknown zone \(id)") }
            zones[k] = z
        }
        guard r.isAtEnd else { throw SnapshotError.corrupt("trailing bytes") }
    }
}

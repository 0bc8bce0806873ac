import Domain

/// A worker that owns a set of source partitions and one windowed aggregation over them: it
/// tracks per-partition watermarks, feeds batches to the operator synchronously, fires windows
/// as the combined watermark moves, and snapshots/restores everything it holds.
///
/// Records of a batch are judged late against the watermark from before the batch: a record can
/// never make itself late.
public struct WindowWorker<Key: Hashable & Comparable & SnapshotCodable, A: Aggregation> {
    public typealias Input = Timestamped<Keyed<Key, A.Input>>
    public private(set) var tracker: WatermarkTracker
    public var op: WindowAggregator<Key, A>
    /// Late records (side output; CONTRACT: DLQ reason `late_event`).
    public var late: [Input] = []
    /// Emitted window results, in emission order.
    public var out: [WindowResult<Key, A.Output>] = []

    public init(settings: EventTimeSettings, partitions: some Sequence<Int>, now: EpochMillis, op: WindowAggregator<Key, A>) {
        tracker = WatermarkTracker(settings: settings, partitions: partitions, now: now)
        self.op = op
    }

    /// Processes one batch read from `partition` at processing time `now`.
    public mutating func process(partition: Int, batch: [Input], now: EpochMillis) {
        op.process(batch, late: &late, out: &out)
        var maxTime = EpochMillis.min
        for r in batch where r.time > maxTime { maxTime = r.time }
        if maxTime != .min { tracker.observe(partition: partition, eventTime: maxTime, now: now) }
        op.advance(to: tracker.advance(now: now), out: &out)
    }

    /// Processing time passed without input (idleness may release the watermark).
    public mutating func tick(now: EpochMillis) {
        op.advance(to: tracker.advance(now: now), out: &out)
    }

    /// End of a bounded input: every open window fires.
    public mutating func finish() {
        tracker.endOfInput()
        op.advance(to: tracker.current, out: &out)
    }

    /// Operator state plus watermarks.
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(tracker.current)
        let parts = tracker.partitions.keys.sorted()
        w.write(parts.count)
        for p in parts {
            let s = tracker.partitions[p]!
            w.write(p); w.write(s.maxEventTime); w.write(s.lastActivity)
        }
        let opBytes = try op.snapshot()
        w.write(opBytes.count)
        var bytes = w.bytes
        bytes += opBytes
        return try SnapshotEnvelope.seal(operator: "worker:" + op.name, bytes)
    }

    /// Restores what ``snapshot()`` wrote (into a fresh worker with the same operator config).
    public mutating func restore(_ bytes: [UInt8]) throws {
        let body = try SnapshotEnvelope.open(operator: "worker:" + op.name, bytes)
        var r = SnapshotReader(body)
        let current = try r.readInt64()
        var t = WatermarkTracker(settings: tracker.settings, partitions: [], now: 0)
        for _ in 0..<(try r.readInt()) {
            let p = try r.readInt()
            let maxTime = try r.readInt64()
            let last = try r.readInt64()
            t.partitions[p] = .init(maxEventTime: maxTime, lastActivity: last)
        }
        t.restoreCurrent(current)
        tracker = t
        let n = try r.readInt()
        guard n >= 0, n <= body.count else { throw SnapshotError.truncated }
        try op.restore(Array(body[(body.count - n)...]))
    }
}

extension WatermarkTracker {
    mutating func restoreCurrent(_ w: EpochMillis) { current = w }
}

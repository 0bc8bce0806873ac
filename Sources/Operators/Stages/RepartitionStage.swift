import Domain

/// `repartition`: hands the events of the given types on, keyed by another field (Kafka Streams'
/// repartition topic). Each event's partition is Kafka's murmur2 of its key over the partition
/// count, so a file run and a Kafka run put every key in the same place.
///
/// - In one process holding every partition (file mode) the events go straight on to the stages
///   that read this one: no result changes.
/// - With a Kafka source (``external``) they leave through the internal topic instead
///   (``drainOutbound()``), and the task owning each key's partition reads them back
///   (``PipelineRunner/receiveRepartitioned(_:events:)``).
///
/// `lookup`: events without the key (a delivery's cancellation names no driver) take the key of
/// the latest keyed event with the same `lookup` value (its `delivery.assigned`). One that arrives
/// before any keyed event of its lookup value waits for it; if none has come once the watermark
/// is past its time + allowed lateness, any keyed event still to come would be late, so the
/// operator downstream would have found nothing to apply it to: it is dropped and counted
/// (`unroutable`).
public final class RepartitionStage: Stage {
    public let name: String
    let key: EventField
    let types: EventTypeSet?
    public let partitions: Int
    let lookup: EventField?
    let allowedLateness: Int64
    var routed: [Int]
    /// lookup value → key, learned from keyed events, with the event time it was last seen.
    var learned: [String: (key: String, at: EpochMillis)] = [:]
    /// A lookup value is forgotten once the watermark has passed its last keyed event + this
    /// (`lookup_ttl`, default 7 days): state bounded by what is live, not by history.
    public var lookupTTL: Int64 = 7 * 86_400_000
    var forgetting = RetirementQueue()
    /// lookup value → events waiting for their key.
    var waiting: [String: [Timestamped<Event>]] = [:]
    var unroutable = 0
    /// Kafka mode: routed events leave through ``drainOutbound()``, not to the next stages.
    public var external = false
    private var outbound: [(partition: Int, key: String, event: Timestamped<Event>)] = []

    /// How keys map to partitions: the pipeline source's `partitioner` (murmur2 unless it says
    /// crc32), so routed events meet the records their producers placed the same way.
    public let partitioner: Partitioner

    public init(name: String, key: EventField, types: EventTypeSet?, partitions: Int, lookup: EventField? = nil,
                allowedLateness: Int64 = 600_000, partitioner: Partitioner = .murmur2) {
        self.name = name
        self.partitioner = partitioner
        self.key = key
        self.types = types
        self.partitions = max(1, partitions)
        self.lookup = lookup
        self.allowedLateness = allowedLateness
        routed = Array(repeating: 0, count: max(1, partitions))
    }

    public func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput) {
        var counts = Array(repeating: 0, count: partitions) // one write-back per batch
        batch.forEach(of: types) { r in
            var k = key.text(of: r.value)
            if let lookup, let lv = lookup.text(of: r.value) {
                if let k {
                    let previous = learned.updateValue((k, r.time), forKey: lv)
                    if previous == nil || previous!.at < r.time { forgetting.schedule(FastKey(lv), at: r.time &+ lookupTTL) }
                    if let held = waiting.removeValue(forKey: lv) { for h in held { route(h, k, &counts, &out) } }
                } else {
                    k = learned[lv]?.key
                    if k == nil { waiting[lv, default: []].append(r); return }
                }
            }
            guard let k else { return }
            route(r, k, &counts, &out)
        }
        for i in counts.indices { routed[i] += counts[i] }
    }

    private func route(_ r: Timestamped<Event>, _ k: String, _ counts: inout [Int], _ out: inout StageOutput) {
        // One partition: the hash of every key would only ever say 0.
        let p = partitions == 1 ? 0 : partitioner.partition(k, count: partitions)
        counts[p] += 1
        if external { outbound.append((p, k, r)) } else { out.events.append(r) }
    }

    public func advance(to watermark: EpochMillis, into out: inout StageOutput) {
        if watermark != WatermarkTracker.end {
            for lv in forgetting.popDue(watermark) where learned[lv.text].map({ $0.at &+ lookupTTL <= watermark }) == true {
                learned[lv.text] = nil
            }
        }
        guard !waiting.isEmpty, watermark != WatermarkTracker.start else { return }
        let limit = watermark == WatermarkTracker.end ? EpochMillis.max : watermark &- allowedLateness
        for (lv, held) in waiting {
            let keep = held.filter { $0.time >= limit }
            unroutable += held.count - keep.count
            waiting[lv] = keep.isEmpty ? nil : keep
        }
    }

    /// Kafka mode: the events routed since the last call, with their partition and key, in order.
    public func drainOutbound() -> [(partition: Int, key: String, event: Timestamped<Event>)] {
        defer { outbound.removeAll(keepingCapacity: true) }
        return outbound
    }

    public var counters: [(String, Int)] {
        routed.enumerated().map { ("partition_\($0.offset)", $0.element) } + (lookup == nil ? [] : [("unroutable", unroutable), ("lookups", learned.count)])
    }

    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(routed.count)
        for n in routed { w.write(n) }
        w.write(unroutable)
        let keys = learned.keys.sorted()
        w.write(keys.count)
        for k in keys { w.write(k); w.write(learned[k]!.key); w.write(learned[k]!.at) }
        let held = waiting.keys.sorted()
        w.write(held.count)
        for k in held {
            w.write(k)
            w.write(waiting[k]!.count)
            for e in waiting[k]! { e.value.encode(to: &w) }
        }
        return w.bytes
    }

    public func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(bytes)
        let n = try r.readInt()
        guard n == routed.count else { throw SnapshotError.corrupt("partition count changed from \(n) to \(routed.count)") }
        for i in 0..<n { routed[i] = try r.readInt() }
        unroutable = try r.readInt()
        learned = [:]
        forgetting = RetirementQueue()
        for _ in 0..<(try r.readInt()) {
            let lv = try r.readString(), k = try r.readString(), at = try r.readInt64()
            learned[lv] = (k, at)
            forgetting.schedule(FastKey(lv), at: at &+ lookupTTL)
        }
        waiting = [:]
        for _ in 0..<(try r.readInt()) {
            let k = try r.readString()
            var list: [Timestamped<Event>] = []
            for _ in 0..<(try r.readInt()) {
                let e = try Event(from: &r)
                list.append(Timestamped(time: e.time, value: e))
            }
            waiting[k] = list
        }
    }
}

import Domain
import Foundation
import Ingest
import Operators
import Sinks

/// One task of a Kafka run (Kafka Streams' task): partition `id` of every input topic and of every
/// internal topic, with its own operator state, watermark, checkpoint row and output files. It
/// moves between processes only through its checkpoint: restored before any of its records is
/// processed, written before it is given up.
final class PipelineTask {
    let id: Int
    let runner: PipelineRunner
    let checkpointer: Checkpointer
    /// Next offset to read per topic (input and internal), from the checkpoint then from records.
    var next: [String: Int64]
    /// Records taken since the last checkpoint, and the operators' watermark at it.
    var sinceCheckpoint = 0
    var checkpointedWatermark = EpochMillis.min
    /// Input topics (by index) that reached their end offset (`--until-end`).
    var endedInputs: Set<Int> = []
    /// Every input reached its end: ``PipelineRunner/finish()`` was called.
    var sourcesEnded = false
    /// The final checkpoint of a bounded run is being written, or committed.
    var finishing = false, finished = false
    /// Partitions paused while a checkpoint of this task is in flight.
    var paused = false
    /// What this task last announced on the internal topics, and when (monotonic ms).
    var announced: (watermark: EpochMillis, idle: Bool)?
    var announcedAt: EpochMillis = 0
    /// The checkpoint whose offsets were last committed to the Kafka group.
    var kafkaCommitted: Int64 = 0
    /// Counted in the run's summary.
    var accounted = false

    /// This round's input records, back to back, with their spans and offsets per input topic.
    var arena: [UInt8] = []
    var spans: [[(range: Range<Int>, offset: Int64)]]
    /// Each input record's Kafka timestamp (its clock for the `max_future` rule), like `spans`.
    var clocks: [[EpochMillis]]
    /// This round's internal-topic records, in arrival order.
    var inbound: [Inbound] = []

    enum Inbound {
        case event(operator: String, Timestamped<Event>)
        case marker(operator: String, sender: Int, watermark: EpochMillis, idle: Bool)
        /// An input record (topic number `input`) that task `origin` read at `offset` and forwarded
        /// here, the owner of its key (the reroute topic).
        case input(input: Int, origin: Int, offset: Int64, clock: EpochMillis, bytes: [UInt8])
        /// A sender's watermark on the reroute topic.
        case rerouteMarker(sender: Int, watermark: EpochMillis, idle: Bool)
    }

    init(id: Int, runner: PipelineRunner, checkpointer: Checkpointer, inputs: Int) {
        self.id = id
        self.runner = runner
        self.checkpointer = checkpointer
        next = checkpointer.positions
        kafkaCommitted = checkpointer.checkpointID
        spans = Array(repeating: [], count: inputs)
        clocks = Array(repeating: [], count: inputs)
        unpublished = Array(repeating: 0, count: inputs)
    }

    /// Records taken since the last ``takeUnpublished(inputs:)``: per input topic number, and per
    /// internal topic.
    var unpublished: [Int] = []
    var unpublishedInternal: [String: Int] = [:]

    /// The counts since the last call, by topic name (for the records-in metric).
    func takeUnpublished(inputs: [String]) -> [(String, Int)] {
        var out: [(String, Int)] = []
        for (i, n) in unpublished.enumerated() where n > 0 { out.append((inputs[i], n)) }
        for (t, n) in unpublishedInternal where n > 0 { out.append((t, n)) }
        for i in unpublished.indices { unpublished[i] = 0 }
        unpublishedInternal.removeAll(keepingCapacity: true)
        return out
    }

    /// Takes one input record of topic number `input` (its position moves on in ``process``).
    func append(input: Int, _ r: ConsumedRecord) {
        unpublished[input] += 1
        spans[input].append((arena.count..<(arena.count + r.value.count), r.offset))
        clocks[input].append(r.timestamp)
        arena.append(contentsOf: r.value)
        sinceCheckpoint += 1
    }

    /// An input record of topic number `input` that went to the task owning its key instead:
    /// this task's position moves past it.
    func skip(input: Int, topic: String, offset: Int64) {
        unpublished[input] += 1
        next[topic] = max(next[topic] ?? 0, offset + 1)
        sinceCheckpoint += 1
    }

    /// Takes one internal-topic record (an event routed here, a record forwarded here on the
    /// reroute topic — `operator` nil —, or an upstream task's watermark). Returns false for a
    /// record before the task's position: taken already, not again.
    func append(internal r: ConsumedRecord, operator name: String?) throws -> Bool {
        if let n = next[r.topic], r.offset < n { return false }
        unpublishedInternal[r.topic, default: 0] += 1
        next[r.topic] = r.offset + 1
        sinceCheckpoint += 1
        inbound.append(try ExchangeRecord.decode(r.value, operator: name))
        return true
    }

    /// Runs this round's records through the operators: input topics first (one batch each),
    /// then the internal topics' records in arrival order.
    func process(inputs topics: [String], now: EpochMillis) {
        if !arena.isEmpty {
            arena.withUnsafeBytes { all in
                for (i, list) in spans.enumerated() where !list.isEmpty {
                    let views = list.map { (bytes: UnsafeRawBufferPointer(rebasing: all[$0.range]), offset: $0.offset) }
                    runner.process(partition: i, records: views, now: now, source: topics[i], sourcePartition: id, clocks: clocks[i])
                    // (A later record of the round may have been forwarded: its skip moved further.)
                    next[topics[i]] = max(next[topics[i]] ?? 0, list[list.count - 1].offset + 1)
                }
            }
            arena.removeAll(keepingCapacity: true)
            for i in spans.indices { spans[i].removeAll(keepingCapacity: true); clocks[i].removeAll(keepingCapacity: true) }
        }
        guard !inbound.isEmpty else { return }
        var batch: [Timestamped<Event>] = []
        var batchOf = ""
        // Forwarded records of one input topic and sender, back to back.
        var forwarded: [(offset: Int64, clock: EpochMillis, bytes: [UInt8])] = []
        var forwardedFrom = (input: -1, origin: -1)
        func flushForwarded() {
            guard !forwarded.isEmpty else { return }
            let arena = forwarded.flatMap(\.bytes)
            arena.withUnsafeBytes { all in
                var at = 0
                let views = forwarded.map { f -> (bytes: UnsafeRawBufferPointer, offset: Int64) in
                    defer { at += f.bytes.count }
                    return (UnsafeRawBufferPointer(rebasing: all[at..<(at + f.bytes.count)]), f.offset)
                }
                runner.processForwarded(partition: forwardedFrom.input, origin: forwardedFrom.origin, records: views,
                                        clocks: forwarded.map(\.clock), now: now, source: topics[forwardedFrom.input])
            }
            forwarded.removeAll()
        }
        func flush() {
            flushForwarded()
            if !batch.isEmpty { runner.receiveRepartitioned(batchOf, events: batch) }
            batch.removeAll()
        }
        for item in inbound {
            switch item {
            case .event(let name, let e):
                flushForwarded()
                if name != batchOf { flush(); batchOf = name }
                batch.append(e)
            case .marker(let name, let sender, let wm, let idle):
                flush() // the events this sender sent before its watermark go first
                runner.announce(name, sender: sender, watermark: wm, idle: idle)
            case .input(let input, let origin, let offset, let clock, let bytes):
                if !batch.isEmpty { flush() }
                guard input >= 0, input < topics.count else { continue }
                if forwardedFrom != (input, origin) { flushForwarded(); forwardedFrom = (input, origin) }
                forwarded.append((offset, clock, bytes))
            case .rerouteMarker(let sender, let wm, let idle):
                flush()
                runner.announceReroute(sender: sender, watermark: wm, idle: idle)
            }
        }
        flush()
        inbound.removeAll(keepingCapacity: true)
    }
}

/// Records on an internal topic: an event routed to its key's partition, an input record
/// forwarded to the task owning its key (the reroute topic), or an upstream task's watermark
/// marker (sent to every partition after the records it sent before). Our own binary format (the
/// snapshot encoding of ``Event``): only our tasks read these topics.
enum ExchangeRecord {
    static let eventTag = 1, markerTag = 2, inputTag = 3

    /// Input record `bytes` of input topic number `input`, read by task `origin` at `offset`,
    /// with its Kafka timestamp `clock`.
    static func input(_ input: Int, origin: Int, offset: Int64, clock: EpochMillis, bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var w = SnapshotWriter()
        w.write(inputTag)
        w.write(input)
        w.write(origin)
        w.write(offset)
        w.write(clock)
        w.write(bytes.count)
        w.writeBytes(bytes)
        return w.bytes
    }

    static func event(_ e: Timestamped<Event>) -> [UInt8] {
        var w = SnapshotWriter()
        w.write(eventTag)
        e.value.encode(to: &w)
        return w.bytes
    }

    static func marker(sender: Int, watermark: EpochMillis, idle: Bool) -> [UInt8] {
        var w = SnapshotWriter()
        w.write(markerTag)
        w.write(sender)
        w.write(watermark)
        w.write(idle)
        return w.bytes
    }

    /// `name`: the repartition operator whose topic it came from; nil for the reroute topic.
    static func decode(_ bytes: UnsafeRawBufferPointer, operator name: String?) throws -> PipelineTask.Inbound {
        var r = SnapshotReader(Array(bytes))
        switch try r.readInt() {
        case eventTag:
            guard let name else { throw SnapshotError.corrupt("an event on the reroute topic") }
            let e = try Event(from: &r)
            return .event(operator: name, Timestamped(time: e.time, value: e))
        case markerTag:
            let sender = try r.readInt(), watermark = try r.readInt64(), idle = try r.readBool()
            guard let name else { return .rerouteMarker(sender: sender, watermark: watermark, idle: idle) }
            return .marker(operator: name, sender: sender, watermark: watermark, idle: idle)
        case inputTag:
            guard name == nil else { throw SnapshotError.corrupt("a forwarded input record on a repartition topic") }
            let input = try r.readInt(), origin = try r.readInt(), offset = try r.readInt64(), clock = try r.readInt64()
            return .input(input: input, origin: origin, offset: offset, clock: clock, bytes: try r.readBytes(count: try r.readInt()))
        case let tag:
            throw SnapshotError.corrupt("unknown internal record tag \(tag)")
        }
    }
}

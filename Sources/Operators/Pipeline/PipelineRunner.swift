import Domain
import Foundation
import Ingest

/// Runs a pipeline file's operators over raw records: decode + validate (bad input to the
/// dead letters), the late check against the watermark (late events to the dead letters with
/// `late_event`), then the operators in file order, each reading the source or the operators it
/// names. One worker owns all partitions given to it.
public final class PipelineRunner {
    /// Why a pipeline cannot run.
    public struct Unsupported: Error, CustomStringConvertible {
        public var description: String
    }

    public let config: PipelineConfig
    public private(set) var tracker: WatermarkTracker
    let stages: [Stage]
    /// For each source or operator name, the stages reading it (and the event types they take
    /// from it, when only some).
    let readers: [String: [(stage: Int, types: EventTypeSet?)]]
    /// For each stage, the stages taking its derived events (``Stage/take(_:)``).
    let derivedReaders: [Int: [Int]]
    /// Decodes and validates records; its `maxRecordBytes` is the source's `max_record_bytes`.
    public let decoder: EventDecoder
    let sourceName: String

    /// What each operator emitted, in emission order (indexed like the stages). Derived events
    /// stay typed until a sink formats them (a row, Kafka JSON, a read-model update).
    public private(set) var outputs: [[StageResult]] = []

    /// Result rows of each operator, in emission order (derived events formatted as rows).
    public var rows: [String: [OutputRow]] {
        Dictionary(uniqueKeysWithValues: zip(stages.map(\.name), outputs.map { $0.map(\.row) }))
    }

    /// Takes the outputs emitted since the last call (for sinks that write per checkpoint).
    public func drainOutputs() -> [(name: String, results: [StageResult])] {
        defer { for i in outputs.indices { outputs[i].removeAll(keepingCapacity: true) } }
        return zip(stages.map(\.name), outputs).map { ($0, $1) }
    }
    /// Records not accepted (bad input and late events).
    public private(set) var deadLetters: [DeadLetter] = []
    /// Records read, accepted and late.
    public private(set) var recordsIn = 0
    public private(set) var accepted = 0
    /// Accepted events per type (by ``EventType/ordinal``), for metrics.
    public private(set) var acceptedByType = [Int](repeating: 0, count: EventType.allCases.count)
    /// Dead letters per reason since the start, for metrics.
    public private(set) var deadByReason: [String: Int] = [:]
    /// Bytes of each operator's state in the last ``snapshot()``.
    public private(set) var stateBytes: [String: Int] = [:]
    public private(set) var late = 0
    /// Dead letters so far (bad input and late events), drained or not.
    public var deadLetterCount: Int { recordsIn - accepted }
    /// When set, nanoseconds spent in each stage (process + advance), in stage order — for the
    /// operators benchmark and the metrics; off by default (two clock reads per stage call).
    public var timing = false
    public private(set) var stageNanos: [UInt64] = []

    /// Operator types this build can run.
    public static let runnableTypes: Set<String> = ["dedupe", "window_aggregate", "repartition", "order_lifecycle", "quota", "delivery_eta", "rollup"]

    /// A runner for the source `partitions` (watermark inputs). `exchangePartitions` (Kafka
    /// mode: the task count) sends `repartition` operators' events out through their internal
    /// topics (``drainRepartitioned()``) instead of straight on; without it they go on in-process.
    public init(config: PipelineConfig, partitions: [Int] = [0], now: EpochMillis = 0, exchangePartitions: Int? = nil) throws {
        self.config = config
        tracker = WatermarkTracker(settings: config.eventTime, partitions: partitions, now: now)
        guard let source = config.sources.first else { throw Unsupported(description: "the pipeline has no source") }
        sourceName = source.name
        decoder = EventDecoder(maxRecordBytes: source.params["max_record_bytes"].flatMap(Int.init) ?? EventDecoder.maxRecordBytes)
        var stages: [Stage] = []
        var readers: [String: [(stage: Int, types: EventTypeSet?)]] = [:]
        var derivedReaders: [Int: [Int]] = [:]
        var inbound: [String: DedupeStage] = [:]
        for c in config.operators {
            guard Self.runnableTypes.contains(c.type) else {
                throw Unsupported(description: "\(config.file):\(c.line): operator '\(c.name)' is of type \(c.type), which this build cannot run yet (it runs \(Self.runnableTypes.sorted().joined(separator: ", ")))")
            }
            let p = Dictionary(c.params, uniquingKeysWith: { $1 })
            let types = p["events"].map { EventTypeSet($0.components(separatedBy: ", ").compactMap(EventType.init(rawValue:))) }
            let stage: Stage
            switch c.type {
            case "dedupe":
                stage = DedupeStage(name: c.name, key: p["key"].flatMap(EventField.init(rawValue:)) ?? .eventID,
                                    ttl: p["ttl"].flatMap(DurationText.parseMillis) ?? 86_400_000, types: types)
            case "window_aggregate":
                stage = WindowAggregateStage(name: c.name, key: EventField(rawValue: p["key"]!)!, sum: p["sum"].flatMap(MoneyField.init(rawValue:)),
                                             types: types, window: c.window!, timezone: p["timezone"],
                                             allowedLateness: config.eventTime.allowedLateness, table: p["output"])
            case "delivery_eta":
                var settings = DeliveryTracker.Settings()
                if let g = p["geofence_m"].flatMap(Double.init) { settings.geofenceMeters = g }
                if let d = p["deviation_m"].flatMap(Double.init) { settings.deviationMeters = d }
                if let s = p["eta_change_s"].flatMap(Int64.init) { settings.etaChangeMillis = s * 1000 }
                stage = DeliveryStage(name: c.name, settings: settings)
            case "rollup":
                let gs = (p["granularities"] ?? "hour, day").components(separatedBy: ", ").compactMap(Rollups.Granularity.init(rawValue:))
                // `tenant` (each tenant's own zone) or an IANA zone, checked when the file loaded.
                let zone = p["timezone"].flatMap { $0 == "tenant" ? nil : TenantZone(identifier: $0) }
                stage = RollupStage(name: c.name, granularities: gs, allowedLateness: config.eventTime.allowedLateness,
                                    ownStateMachine: p["statuses"] == nil, zone: zone)
                if let from = p["statuses"], let i = config.operators.firstIndex(where: { $0.name == from }) {
                    derivedReaders[i, default: []].append(stages.count)
                }
            case "quota":
                stage = QuotaStage(name: c.name, softLimitPercent: p["soft_limit_percent"].flatMap(Int64.init) ?? QuotaResource.softLimitPercent)
            case "order_lifecycle":
                let stage_ = OrderLifecycleStage(name: c.name, allowedLateness: config.eventTime.allowedLateness,
                                                 holdUnknownOrders: p["hold_unknown_orders"].map { $0 == "true" } ?? true)
                if let keep = p["retain_ended"].flatMap(DurationText.parseMillis) {
                    stage_.lifecycle.retainEnded = max(keep, config.eventTime.allowedLateness)
                }
                stage = stage_
            default:
                let r = RepartitionStage(name: c.name, key: EventField(rawValue: p["key"]!)!, types: types,
                                         partitions: exchangePartitions ?? partitions.count,
                                         lookup: p["lookup"].flatMap(EventField.init(rawValue:)),
                                         allowedLateness: config.eventTime.allowedLateness,
                                         partitioner: source.params["partitioner"].flatMap(Partitioner.init(rawValue:)) ?? .murmur2)
                if let ttl = p["lookup_ttl"].flatMap(DurationText.parseMillis) { r.lookupTTL = ttl }
                if exchangePartitions != nil {
                    r.external = true
                    inbound[c.name] = DedupeStage(name: c.name + ".inbound")
                }
                stage = r
            }
            if c.type == "delivery_eta" {
                // Deliveries from `input`, locations from `locations`.
                readers[c.inputs[0], default: []].append((stages.count, [.deliveryAssigned, .deliveryPickedUp, .deliveryCompleted, .deliveryCancelled]))
                readers[c.inputs[1], default: []].append((stages.count, [.driverLocationUpdated]))
            } else {
                for input in c.inputs { readers[input, default: []].append((stages.count, nil)) }
            }
            stages.append(stage)
        }
        self.stages = stages
        self.readers = readers
        self.derivedReaders = derivedReaders
        self.inbound = inbound
        if let n = exchangePartitions { for name in inbound.keys { upstream[name] = UpstreamWatermarks(senders: n) } }
        stageNanos = Array(repeating: 0, count: stages.count)
        outputs = Array(repeating: [], count: stages.count)
    }

    /// A batch decoded ahead of the operators (on another thread: ``decode(_:)`` is pure): the
    /// records back to back with their offsets and what decoding said of each.
    public struct DecodedBatch: @unchecked Sendable { // handed from the decoding thread to the worker, never shared
        public var arena: [UInt8] = []
        var items: [(range: Range<Int>, offset: Int64, result: Result<Event, Rejection>)] = []
        public var count: Int { items.count }
        public var lastOffset: Int64? { items.last?.offset }
        public init() {}
    }

    /// Decodes and validates records (no state touched: safe on any thread, while this runner
    /// processes an earlier batch on another).
    public static func decode(_ records: [(bytes: UnsafeRawBufferPointer, offset: Int64)], with decoder: EventDecoder) -> DecodedBatch {
        var b = DecodedBatch()
        b.arena.reserveCapacity(records.reduce(0) { $0 + $1.bytes.count })
        b.items.reserveCapacity(records.count)
        for r in records {
            let start = b.arena.count
            b.arena.append(contentsOf: r.bytes)
            b.items.append((start..<b.arena.count, r.offset, decoder.decode(r.bytes)))
        }
        return b
    }

    /// Processes one batch of raw records read from `partition` (each with its offset), at
    /// processing time `now`.
    /// `source` names where they came from in dead letters (the topic; default the source's name),
    /// `sourcePartition` the Kafka partition (default `partition`, the watermark input). `clocks`,
    /// one per record, are the records' own clocks (Kafka record timestamps; negative: none) for
    /// the `max_future` rule; without them a partition's established watermark is its clock.
    public func process(partition: Int, records: [(bytes: UnsafeRawBufferPointer, offset: Int64)], now: EpochMillis,
                        source: String? = nil, sourcePartition: Int? = nil, clocks: [EpochMillis]? = nil) {
        let decoded = records.map { (bytes: $0.bytes, offset: $0.offset, result: decoder.decode($0.bytes)) }
        process(partition: partition, decoded: decoded, now: now, source: source, sourcePartition: sourcePartition, clocks: clocks)
    }

    /// Processes a batch decoded by ``decode(_:)`` (the late check, taps and the operators run here).
    public func process(partition: Int, decoded batch: DecodedBatch, now: EpochMillis, source: String? = nil) {
        batch.arena.withUnsafeBytes { all in
            let items = batch.items.map { (bytes: UnsafeRawBufferPointer(rebasing: all[$0.range]), offset: $0.offset, result: $0.result) }
            process(partition: partition, decoded: items, now: now, source: source, sourcePartition: nil, clocks: nil)
        }
    }

    // MARK: the record's clock (max_future)

    /// Per source partition, the clock a file establishes before its first record is judged:
    /// the median event time of its first valid records (``establishClock(partition:sample:)``).
    private var clockSeeds: [Int: EpochMillis] = [:]

    /// How many records of a file's head ``establishClock(partition:sample:)`` looks at.
    public static let clockSampleRecords = 1_001

    /// A file's partition gets its clock before any record is judged: the median event time of
    /// the valid records among `sample` (the head of the file, the same whatever the batch size),
    /// so a lone outlier — even the file's very first record — is judged against the others and
    /// never becomes the clock. Without valid records, nothing is established.
    public func establishClock(partition: Int, sample: some Sequence<UnsafeRawBufferPointer>) {
        var times: [EpochMillis] = []
        for bytes in sample {
            if case .success(let e) = decoder.decode(bytes) { times.append(e.time) }
        }
        guard !times.isEmpty else { return }
        times.sort()
        clockSeeds[partition] = times[(times.count - 1) / 2]
    }


    private func process(partition: Int, decoded records: [(bytes: UnsafeRawBufferPointer, offset: Int64, result: Result<Event, Rejection>)],
                         now: EpochMillis, source: String?, sourcePartition: Int?, clocks: [EpochMillis]?, forwarded: Bool = false) {
        let sourceName = source ?? self.sourceName
        // A record another task forwarded (``processForwarded``) is late only behind the
        // watermark the operators have reached here — held by every sender's announcement — not
        // behind this task's own sources, which may have run ahead of the sender that read it.
        let lateMark = forwarded ? stageWatermark : tracker.current
        let dlqPartition = sourcePartition ?? partition
        var events: [Timestamped<Event>] = []
        events.reserveCapacity(records.count)
        // With retention: each event's record (to dead-letter events of retired state).
        var recordOf: [Int32] = []
        var maxTime = EpochMillis.min
        // The clock of a record without one of its own (a file's): the partition's watermark —
        // its highest accepted event time − out-of-orderness, moving record by record so batch
        // sizes change nothing — or the clock its file established, whichever is later. Looked
        // up once a batch: a dictionary access per record cost ~180 instructions.
        var highest = tracker.partitions[partition]?.maxEventTime ?? .min
        let seed = clockSeeds[partition] ?? .min
        let maxFuture = tracker.settings.maxFuture, outOfOrderness = tracker.settings.maxOutOfOrderness
        for (n, r) in records.enumerated() {
            recordsIn += 1
            switch r.result {
            case .success(let e):
                let own = clocks?[n] ?? -1
                let clock = own >= 0 ? own : max(seed, highest == .min ? .min : highest &- outOfOrderness)
                if clock != .min && e.time > clock &+ maxFuture {
                    deadByReason[RejectReason.futureTimestamp.rawValue, default: 0] += 1
                    deadLetters.append(DeadLetter(record: Array(r.bytes), reason: .futureTimestamp,
                                                  detail: "event time \(RFC3339.format(e.time)) is more than max_future \(DurationText.format(maxFuture)) ahead of the record's clock \(RFC3339.format(clock)) (\(own >= 0 ? "its Kafka timestamp" : "the partition's watermark"))",
                                                  source: sourceName, partition: dlqPartition, offset: r.offset))
                    continue
                }
                if lateMark != WatermarkTracker.start && e.time < lateMark &- tracker.settings.allowedLateness {
                    late += 1
                    deadByReason["late_event", default: 0] += 1
                    deadLetters.append(DeadLetter(record: Array(r.bytes), reason: .lateEvent,
                                                  detail: "event time \(RFC3339.format(e.time)) is older than watermark \(RFC3339.format(lateMark)) − allowed lateness \(DurationText.format(tracker.settings.allowedLateness))",
                                                  source: sourceName, partition: dlqPartition, offset: r.offset))
                    continue
                }
                accepted += 1
                acceptedByType[e.type.ordinal] += 1
                if e.time > maxTime { maxTime = e.time }
                if e.time > highest { highest = e.time }
                if !taps.isEmpty { raw.add(e.eventID, r.bytes) }
                if !retiring.isEmpty { recordOf.append(Int32(n)) }
                events.append(Timestamped(time: e.time, value: e))
            case .failure(let f):
                deadByReason[f.reason.rawValue, default: 0] += 1
                deadLetters.append(DeadLetter(record: Array(r.bytes), reason: f.reason, detail: f.detail,
                                              source: sourceName, partition: dlqPartition, offset: r.offset))
            }
        }
        for i in retiring {
            let gone = stages[i].retiredEvents(in: events)
            guard !gone.isEmpty else { continue }
            for j in gone {
                let e = events[j].value, r = records[Int(recordOf[j])]
                late += 1
                accepted -= 1
                acceptedByType[e.type.ordinal] -= 1
                deadByReason["late_event", default: 0] += 1
                deadLetters.append(DeadLetter(record: Array(r.bytes), reason: .lateEvent,
                                              detail: "\(stages[i].name) has retired the state of \(e.orderID.map { "order \($0)" } ?? "this key") (it ended and the watermark passed it + allowed lateness), so this event is late for it",
                                              source: sourceName, partition: dlqPartition, offset: r.offset))
            }
            let drop = Set(gone)
            events = events.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
            recordOf = recordOf.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
        }
        // A forwarded record moves the watermark of the partition it belongs to, as it would
        // have had it been placed there — unless that partition already ended (a bounded run).
        run(partition: partition, events: events, maxTime: forwarded && tracker.partitions[partition] == nil ? .min : maxTime, now: now)
    }

    // MARK: records forwarded by other tasks (Kafka mode, issue 28)

    /// Kafka mode: what arrives on the reroute topic — input records another task read from a
    /// partition their key does not map to, sent on to this task, which owns the key — and the
    /// senders' watermarks announced after them. nil: no rerouting (one partition, or a file).
    public private(set) var reroute: UpstreamWatermarks?
    /// Per input topic × sender partition, the offset after the last forwarded record taken: a
    /// sender that restarts from its checkpoint forwards some records again; they are taken once.
    private var reroutedUpTo: [Int64] = []
    private var rerouteSenders = 0

    /// Turns on the reroute channel: `inputs` input topics, `senders` upstream tasks (before a
    /// snapshot is restored).
    public func enableReroute(inputs: Int, senders: Int) {
        rerouteSenders = senders
        reroute = UpstreamWatermarks(senders: senders)
        reroutedUpTo = Array(repeating: 0, count: inputs * senders)
    }

    /// Records of input number `partition` that task `origin` read at these offsets and forwarded
    /// here: each taken once (copies a restarted sender sent again are dropped), then processed as
    /// this task's own records of that input, judged late against the operators' watermark.
    /// Dead letters name the topic, partition and offset the record was read from.
    public func processForwarded(partition: Int, origin: Int, records: [(bytes: UnsafeRawBufferPointer, offset: Int64)],
                                 clocks: [EpochMillis], now: EpochMillis, source: String) {
        let slot = partition * rerouteSenders + origin
        guard reroute != nil, slot >= 0, slot < reroutedUpTo.count else { return }
        var fresh: [(bytes: UnsafeRawBufferPointer, offset: Int64, result: Result<Event, Rejection>)] = []
        var freshClocks: [EpochMillis] = []
        for (n, r) in records.enumerated() where r.offset >= reroutedUpTo[slot] {
            reroutedUpTo[slot] = r.offset + 1
            fresh.append((r.bytes, r.offset, decoder.decode(r.bytes)))
            freshClocks.append(clocks[n])
        }
        guard !fresh.isEmpty else { return }
        process(partition: partition, decoded: fresh, now: now, source: source, sourcePartition: origin, clocks: freshClocks, forwarded: true)
    }

    /// Kafka mode: upstream task `sender` announced on the reroute topic its sources' watermark,
    /// after the records it forwarded before.
    public func announceReroute(sender: Int, watermark: EpochMillis, idle: Bool) {
        guard reroute != nil else { return }
        reroute!.update(sender: sender, watermark: watermark, idle: idle)
        let wm = stageWatermark
        for d in inbound.values { var o = StageOutput(); d.advance(to: wm, into: &o) }
        advance(to: wm)
    }

    /// Processes whole records, each its own bytes, their offsets counting from `firstOffset`
    /// (benchmarks and tests; drivers hand views into one buffer instead).
    public func process(partition: Int, records list: some Collection<[UInt8]>, firstOffset: Int64, now: EpochMillis) {
        let arena = list.flatMap { $0 }
        arena.withUnsafeBytes { all in
            var at = 0
            let views = list.enumerated().map { i, rec -> (bytes: UnsafeRawBufferPointer, offset: Int64) in
                defer { at += rec.count }
                return (UnsafeRawBufferPointer(rebasing: all[at..<(at + rec.count)]), firstOffset + Int64(i))
            }
            process(partition: partition, records: views, now: now)
        }
    }

    /// Stages with retention on (``enableRetention(for:)``), asked per batch for events of
    /// state they retired.
    private var retiring: [Int] = []

    /// Turns retention on for these operators (those whose read models a sink keeps).
    public func enableRetention(for names: Set<String>) {
        for (i, s) in stages.enumerated() where names.contains(s.name) {
            s.enableRetention()
            if !retiring.contains(i) { retiring.append(i) }
        }
    }

    /// Processes events decoded elsewhere (benchmarks, or a source that decodes itself); the late
    /// check still applies. The batch is taken over: when the caller keeps no other reference,
    /// stages change it in place (dedupe drops duplicates without copying the kept events).
    public func process(partition: Int, events batch: consuming [Timestamped<Event>], now: EpochMillis) {
        var events = batch
        recordsIn += events.count
        let lateCount = events.lazy.filter { self.tracker.isLate($0.time) }.count
        // Usually none is late: the batch goes on as it is (no copy, no retain per event).
        if lateCount > 0 { events.removeAll { tracker.isLate($0.time) } }
        late += lateCount
        accepted += events.count
        let maxTime = events.lazy.map(\.time).max() ?? .min
        run(partition: partition, events: consume events, maxTime: maxTime, now: now)
    }

    private func run(partition: Int, events: consuming [Timestamped<Event>], maxTime: EpochMillis, now: EpochMillis) {
        deliver(events, from: sourceName)
        if maxTime != .min { tracker.observe(partition: partition, eventTime: maxTime, now: now) }
        advanceSources(now: now)
        advance(to: stageWatermark)
    }

    /// Processing time passed without input.
    public func tick(now: EpochMillis) {
        advanceSources(now: now)
        advance(to: stageWatermark)
    }

    /// Kafka mode: whether source partition `p`'s log holds records not read yet (the driver
    /// answers from its consumer). Idleness counts only silence at a log's end: such a partition
    /// is never idle, however long no record came — that silence is the reader's (an outage, a
    /// checkpoint blocked on the broker, an overloaded machine), and its records, once read, must
    /// not find the watermark gone past them. nil (files): every silence is the source's.
    public var unread: ((Int) -> Bool)?

    /// The sources' watermark moved on at `now` (idleness judged as ``unread`` allows).
    private func advanceSources(now: EpochMillis) {
        if let unread { tracker.holdActive(now: now, unread: unread) }
        tracker.advance(now: now)
    }

    /// Whether every source partition is idle at `now` (as ``unread`` allows): what a Kafka task
    /// announces on the internal topics.
    public func sourcesIdle(now: EpochMillis) -> Bool {
        if let unread { tracker.holdActive(now: now, unread: unread) }
        return tracker.allIdle(now: now)
    }

    /// End of a bounded input: every buffered event and open window is emitted (in Kafka mode,
    /// those behind an internal topic once every upstream task has ended too).
    public func finish() {
        tracker.endOfInput()
        advance(to: stageWatermark)
    }

    /// A source partition reached the end of a bounded input: it no longer holds the watermark.
    public func finish(partition: Int, now: EpochMillis) {
        tracker.remove(partition: partition)
        tick(now: now)
    }

    /// Processing time restarts (a restored task in another process): every partition counts
    /// as active from `now`.
    public func restartClock(now: EpochMillis) { tracker.touchAll(now: now) }

    // MARK: internal topics (Kafka mode)

    /// Kafka mode, per repartition operator: dedupe of what its internal topic delivers (an
    /// upstream task that restarts re-sends what it had forwarded after its last checkpoint).
    var inbound: [String: DedupeStage] = [:]
    /// Kafka mode: per internal topic (its repartition operator), the watermarks the upstream
    /// tasks announced on it.
    public private(set) var upstream: [String: UpstreamWatermarks] = [:]

    /// The watermark the operators advance to: the sources' (``tracker``), and in Kafka mode no
    /// further than every upstream task has announced on every internal topic.
    public var stageWatermark: EpochMillis {
        let own = upstream.values.reduce(tracker.current) { min($0, $1.current) }
        return reroute.map { min(own, $0.current) } ?? own
    }

    /// Kafka mode: whether every upstream task has announced the end of its input on every
    /// internal topic (then ``finish()`` has emitted everything).
    public var upstreamEnded: Bool { upstream.values.allSatisfy(\.allEnded) && reroute?.allEnded != false }

    /// Names of the repartition operators whose events leave through internal topics.
    public var repartitionOperators: [String] { inbound.keys.sorted() }

    /// Kafka mode: the events routed to internal topics since the last call, in order.
    public func drainRepartitioned() -> [(operator: String, partition: Int, key: String, event: Timestamped<Event>)] {
        var out: [(operator: String, partition: Int, key: String, event: Timestamped<Event>)] = []
        for s in stages {
            guard let r = s as? RepartitionStage, r.external else { continue }
            for o in r.drainOutbound() { out.append((r.name, o.partition, o.key, o.event)) }
        }
        return out
    }

    /// Kafka mode: events read from operator `name`'s internal topic, handed on as its output
    /// (copies an upstream task re-sent are dropped).
    public func receiveRepartitioned(_ name: String, events: [Timestamped<Event>]) {
        guard let d = inbound[name], !events.isEmpty else { return }
        var out = StageOutput()
        d.process(events, into: &out)
        deliver(out.events, from: name)
    }

    /// Kafka mode: upstream task `sender` announced on operator `name`'s internal topic its
    /// sources' watermark (or that they are all idle); the operators move on as far as every
    /// upstream task allows.
    public func announce(_ name: String, sender: Int, watermark: EpochMillis, idle: Bool) {
        guard upstream[name] != nil else { return }
        upstream[name]!.update(sender: sender, watermark: watermark, idle: idle)
        let wm = stageWatermark
        for d in inbound.values { var o = StageOutput(); d.advance(to: wm, into: &o) }
        advance(to: wm)
    }

    private func deliver(_ batch: consuming [Timestamped<Event>], from name: String) {
        var events = batch
        if !taps.isEmpty, !events.isEmpty, taps.contains(name) { tapped[name, default: []].append(contentsOf: events) }
        guard !events.isEmpty, let targets = readers[name] else { return }
        for (n, (i, types)) in targets.enumerated() {
            var out = StageOutput()
            let t0 = timing ? DispatchTime.now().uptimeNanoseconds : 0
            // A reader that takes only some types gets a filtered copy — unless every event is of
            // those types (a repartitioned stream usually is), then the batch itself. The last
            // reader is handed the batch (a stage that filters it in place copies nothing).
            let input = types.map { t in Self.allOf(t, events) ? events : Self.filter(events, t) } ?? events
            if n == targets.count - 1 { events = [] } // `input` is now the batch's only owner
            stages[i].process(consume input, into: &out)
            if timing { stageNanos[i] += DispatchTime.now().uptimeNanoseconds - t0 }
            collect(i, out)
        }
    }

    /// Whether every event is of these types (looked at in place: no copy, no retain).
    private static func allOf(_ types: EventTypeSet, _ events: [Timestamped<Event>]) -> Bool {
        events.withUnsafeBufferPointer { b in b.allSatisfy { types.contains($0.value.type) } }
    }

    /// The events of these types (only they are copied).
    private static func filter(_ events: [Timestamped<Event>], _ types: EventTypeSet) -> [Timestamped<Event>] {
        var out: [Timestamped<Event>] = []
        events.forEach(of: types) { out.append($0) }
        return out
    }

    private func advance(to wm: EpochMillis) {
        for i in stages.indices {
            var out = StageOutput()
            let t0 = timing ? DispatchTime.now().uptimeNanoseconds : 0
            stages[i].advance(to: wm, into: &out)
            if timing { stageNanos[i] += DispatchTime.now().uptimeNanoseconds - t0 }
            collect(i, out)
        }
    }

    private func collect(_ i: Int, _ output: consuming StageOutput) {
        var out = output
        if !out.rows.isEmpty { outputs[i].append(contentsOf: out.rows.lazy.map(StageResult.row)) }
        if !out.derived.isEmpty {
            outputs[i].append(contentsOf: out.derived.lazy.map(StageResult.event))
            for j in derivedReaders[i] ?? [] { stages[j].take(out.derived) }
        }
        var events: [Timestamped<Event>] = []
        swap(&events, &out.events) // handed on, not shared
        deliver(events, from: stages[i].name)
    }

    /// Read-model rows of every operator, for the keys changed since the last call (a checkpoint
    /// writes them, then snapshots the state, so nothing changed is ever between the two).
    public func drainReadModels() -> [ReadModelRow] {
        stages.flatMap { s in
            let rows = s.drainReadModel() // drained either way: what no sink takes is not kept
            return readModelInputs.map { $0.contains(s.name) } ?? true ? rows : []
        }
    }

    /// The operators whose read models a Postgres sink takes (its `inputs`); nil: every one.
    public var readModelInputs: Set<String>?

    /// Operators (or the source) whose events a sink keeps (the Parquet `events` table): their
    /// events since the last ``drainTapped()``.
    public var taps: Set<String> = [] {
        didSet { tapped = [:] }
    }
    private var tapped: [String: [Timestamped<Event>]] = [:]

    /// Raw bytes of the accepted records since the last drain, by event id (kept only while
    /// there are taps: the Parquet `events` table stores each event's JSON as it arrived).
    private var raw = RawRecords()

    public func drainTapped() -> (events: [String: [Timestamped<Event>]], raw: RawRecords) {
        defer { tapped = [:]; raw = RawRecords(reservingRecords: raw.count, bytes: raw.byteCount) }
        return (tapped, raw)
    }

    /// Takes the dead letters collected since the last call.
    public func drainDeadLetters() -> [DeadLetter] {
        defer { deadLetters.removeAll(keepingCapacity: true) }
        return deadLetters
    }

    /// Names of the stages, in order (matching ``stageNanos``).
    public var stageNames: [String] { stages.map(\.name) }

    /// Counters of every operator, `name.counter`.
    public var counters: [(String, Int)] {
        stages.flatMap { s in s.counters.map { ("\(s.name).\($0.0)", $0.1) } }
    }

    /// Watermarks and all operator state, for a checkpoint.
    public func snapshot() throws -> [UInt8] {
        var w = SnapshotWriter()
        w.write(tracker.current)
        let parts = tracker.partitions.keys.sorted()
        w.write(parts.count)
        for p in parts { w.write(p); w.write(tracker.partitions[p]!.maxEventTime); w.write(tracker.partitions[p]!.lastActivity) }
        w.write(stages.count)
        for s in stages {
            let b = try s.snapshot()
            stateBytes[s.name] = b.count
            w.write(s.name)
            w.write(b.count)
            w.writeBytes(b)
        }
        for name in upstream.keys.sorted() {
            upstream[name]!.encode(to: &w)
            do {
                let b = try inbound[name]!.snapshot()
                w.write(b.count)
                w.writeBytes(b)
            }
        }
        // Last, so a snapshot from before rerouting still restores.
        if let reroute {
            reroute.encode(to: &w)
            w.write(reroutedUpTo.count)
            for o in reroutedUpTo { w.write(o) }
        }
        return try SnapshotEnvelope.seal(operator: "pipeline:" + config.name, w.bytes)
    }

    /// Incremental checkpoints: from now on ``snapshot()`` leaves out the keyed state of the
    /// operators that keep entries (``IncrementalStage``), which ``changedEntries()`` reports.
    public func enableIncrementalState() {
        for s in stages { (s as? any IncrementalStage)?.trackEntries() }
        incremental = true
    }
    public private(set) var incremental = false

    /// What a full snapshot (every key in one blob, as before incremental checkpoints) would be
    /// now — for comparing what an incremental checkpoint writes. Changes nothing.
    public func fullSnapshot() throws -> [UInt8] {
        guard incremental else { return try snapshot() }
        let tracking = stages.compactMap { $0 as? any IncrementalStage }
        for s in tracking { s.includeEntriesInSnapshot(true) }
        defer { for s in tracking { s.includeEntriesInSnapshot(false) } }
        return try snapshot()
    }

    /// Per operator keeping entries: those changed since the last call (taken at the same cut as
    /// ``snapshot()``).
    public func changedEntries() throws -> [(operator: String, entries: [StateEntry])] {
        try stages.compactMap { s in try (s as? any IncrementalStage).map { (s.name, try $0.changedEntries()) } }
    }

    /// Restores ``snapshot()``'s bytes, then each operator's entries (by operator name).
    public func restore(_ bytes: [UInt8], entries: [String: [StateEntry]]) throws {
        try restore(bytes)
        // Each operator's entries on its own thread (they share nothing): both cores.
        let work = stages.compactMap { s -> (any IncrementalStage, [StateEntry])? in
            guard let i = s as? any IncrementalStage, let e = entries[s.name] else { return nil }
            return (i, e)
        }
        let failures = Failures(count: work.count)
        nonisolated(unsafe) let jobs = work // each index touched by one thread only
        DispatchQueue.concurrentPerform(iterations: jobs.count) { n in
            do { try jobs[n].0.restoreEntries(jobs[n].1) } catch { failures.set(n, error) }
        }
        if let e = failures.first { throw e }
    }

    /// Restores what ``snapshot()`` wrote into a runner built from the same pipeline file.
    public func restore(_ bytes: [UInt8]) throws {
        var r = SnapshotReader(try SnapshotEnvelope.open(operator: "pipeline:" + config.name, bytes))
        let current = try r.readInt64()
        var t = WatermarkTracker(settings: config.eventTime, partitions: [], now: 0)
        for _ in 0..<(try r.readInt()) {
            let p = try r.readInt()
            t.partitions[p] = .init(maxEventTime: try r.readInt64(), lastActivity: try r.readInt64())
        }
        t.restoreCurrent(current)
        tracker = t
        let n = try r.readInt()
        guard n == stages.count else { throw SnapshotError.corrupt("the pipeline has \(stages.count) operators, the snapshot \(n)") }
        for s in stages {
            let name = try r.readString()
            guard name == s.name else { throw SnapshotError.wrongOperator(expected: s.name, found: name) }
            try s.restore(try r.readBytes(count: try r.readInt()))
        }
        for name in upstream.keys.sorted() {
            upstream[name] = try UpstreamWatermarks(from: &r)
            try inbound[name]!.restore(try r.readBytes(count: try r.readInt()))
        }
        if reroute != nil, !r.isAtEnd {
            let restored = try UpstreamWatermarks(from: &r)
            let n = try r.readInt()
            guard restored.senders == rerouteSenders, n == reroutedUpTo.count else {
                throw SnapshotError.corrupt("the reroute state has \(restored.senders) senders and \(n) positions, the task \(rerouteSenders) and \(reroutedUpTo.count)")
            }
            reroute = restored
            for i in 0..<n { reroutedUpTo[i] = try r.readInt64() }
        }
    }
}

/// Errors of parallel work, one slot each.
private final class Failures: @unchecked Sendable {
    private var slots: [Error?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ e: Error) { lock.lock(); slots[i] = e; lock.unlock() }
    var first: Error? { slots.compactMap { $0 }.first }
}

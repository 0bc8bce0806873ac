import ArgumentParser
import Domain
import Foundation
import Ingest
import Operators

/// `wakala bench`: the benchmark suite. Figures are ratios against a peer run in the same
/// process on the same bytes, because absolute times move from run to run on shared machines.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run benchmarks and print figures with ratios against a peer (build with -c release).",
        subcommands: [BenchSuite.self, DecodeBench.self, WindowBench.self, OperatorsBench.self, ParquetBench.self, PostgresBench.self, KafkaBench.self, ServeBench.self, GatewayBench.self, CheckpointBench.self, PipelineBench.self, ScalingBench.self],
        defaultSubcommand: BenchSuite.self)
}

/// Decode + validate of generated order events vs Foundation's JSONDecoder on the same bytes.
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode",
        abstract: "Decode+validate order events: EventDecoder vs Foundation JSONDecoder (Codable).")

    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 2
    @Option(help: "Timed rounds per decoder (the best round counts).") var rounds: Int = 5
    @Flag(help: "Only run our decoder (for profiling).") var oursOnly = false

    func run() throws {
        var config = GeneratorConfig()
        config.seed = 42
        config.tenants = tenants
        config.days = days
        var gen = StreamGenerator(config)
        let records = gen.generateAll()
            .filter { $0.topic == Topics.orders }
            .map(\.value)
            .filter { String(decoding: $0, as: UTF8.self).contains("\"event_type\":\"order.") }
        let bytes = records.reduce(0) { $0 + $1.count }
        print("order events: \(records.count), \(bytes / records.count) bytes on average")

        // Records back to back in one buffer, as they arrive in a Kafka fetch or a file read.
        var arena: [UInt8] = []
        var spans: [Range<Int>] = []
        for r in records {
            spans.append(arena.count..<(arena.count + r.count))
            arena += r
        }
        let datas = records.map { Data($0) } // the peer's input, made outside the timing

        let decoder = EventDecoder()
        var ours = Double.infinity
        var peer = Double.infinity
        let jd = JSONDecoder()
        for _ in 0..<rounds {
            var accepted = 0
            let t0 = monotonicSeconds()
            arena.withUnsafeBytes { all in
                for s in spans {
                    if case .success = decoder.decode(UnsafeRawBufferPointer(rebasing: all[s])) { accepted += 1 }
                }
            }
            ours = min(ours, monotonicSeconds() - t0)
            guard accepted == records.count else { throw RuntimeFailure("only \(accepted) of \(records.count) accepted") }
            if oursOnly { continue }
            var ok = 0
            let t1 = monotonicSeconds()
            for d in datas {
                if (try? jd.decode(CodableEnvelope.self, from: d)) != nil { ok += 1 }
            }
            peer = min(peer, monotonicSeconds() - t1)
            guard ok == records.count else { throw RuntimeFailure("JSONDecoder decoded only \(ok)") }
        }
        if oursOnly {
            print(String(format: "EventDecoder (decode+validate): %.0f events/s", Double(records.count) / ours))
            return
        }
        let oursRate = Double(records.count) / ours
        let peerRate = Double(records.count) / peer
        print(String(format: "EventDecoder (decode+validate): %.0f events/s, %.0f MB/s", oursRate, Double(bytes) / ours / 1e6))
        print(String(format: "JSONDecoder (Codable, no validation): %.0f events/s, %.0f MB/s", peerRate, Double(bytes) / peer / 1e6))
        print(String(format: "ratio: %.1fx JSONDecoder", oursRate / peerRate))
    }
}

/// The same order events as Codable types, for the JSONDecoder peer. It does less than our
/// decoder (no money exactness, no sums, no ranges), which favours the peer.
private struct CodableEnvelope: Decodable {
    var event_id: String
    var event_type: String
    var version: String
    var timestamp: String
    var tenant_id: String
    var correlation_id: String?
    var causation_id: String?
    var actor: CodableActor?
    var data: CodableOrderData

    struct CodableActor: Decodable { var type: String; var id: String }

    struct CodableOrderData: Decodable {
        var order_id: String
        var customer_id: String?
        var items: [CodableItem]?
        var subtotal: FlexMoney?
        var delivery_fee: FlexMoney?
        var tax: FlexMoney?
        var discount: FlexMoney?
        var total_amount: FlexMoney?
        var payment_method: String?
        var source: String?
        var vendor_id: String?
        var delivery_id: String?
        var reason: String?
        var cancelled_by: String?
    }

    struct CodableItem: Decodable {
        var product_id: String
        var name: String?
        var quantity: Int
        var unit_price: FlexMoney
        var vendor_id: String?
    }

    struct FlexMoney: Decodable {
        var value: Decimal
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Decimal.self) { value = d; return }
            value = Decimal(string: try c.decode(String.self)) ?? 0
        }
    }
}

/// The benchmarks' stream: seed 42, 20 s of disorder.
func benchStream(tenants: Int, days: Int, duplicates: Double) -> [GeneratedRecord] {
    var config = GeneratorConfig()
    config.seed = 42
    config.tenants = tenants
    config.days = days
    config.disorderMillis = 20_000
    config.duplicates = duplicates
    var gen = StreamGenerator(config)
    return gen.generateAll()
}

/// Keyed hourly tumbling count+sum over generated order events (decode excluded).
struct WindowBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "window",
        abstract: "Keyed hourly tumbling count+sum through the runtime vs a plain hash-map group-by.")

    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 7
    @Option(help: "Timed rounds (the best counts).") var rounds: Int = 5
    @Option(help: "Records per batch.") var batch: Int = 4096

    func run() throws {
        let decoder = EventDecoder()
        var records: [Timestamped<Keyed<String, Int64>>] = []
        for r in benchStream(tenants: tenants, days: days, duplicates: 0) where r.topic == Topics.orders {
            guard case .success(let e) = decoder.decode(r.value) else { continue }
            var amount: Int64 = 0
            if case .orderCreated(let o) = e.payload { amount = o.totalAmount.cents }
            records.append(Timestamped(time: e.time, value: Keyed(key: e.tenantID, value: amount)))
        }
        // Repeat the stream (shifted in time) so a round lasts long enough to measure.
        let span = records.map(\.time).max()! - records.map(\.time).min()! + 86_400_000
        var all: [Timestamped<Keyed<String, Int64>>] = []
        for k in 0..<20 { all += records.map { Timestamped(time: $0.time + Int64(k) * span, value: $0.value) } }
        print("order events: \(all.count) (\(records.count) × 20), batches of \(batch)")

        // Batches as decoding hands them over (made outside the timing).
        let batches = stride(from: 0, to: all.count, by: batch).map { Array(all[$0..<min($0 + batch, all.count)]) }
        let settings = EventTimeSettings()
        var ours = Double.infinity
        var windows = 0
        for _ in 0..<rounds {
            var worker = WindowWorker(settings: settings, partitions: [0], now: 0,
                                      op: WindowAggregator<String, CountSum>(name: "hourly", spec: .tumbling(size: 3_600_000),
                                                                             allowedLateness: settings.allowedLateness, aggregation: CountSum()))
            let t0 = monotonicSeconds()
            for b in batches {
                worker.process(partition: 0, batch: b, now: 0)
                worker.out.removeAll(keepingCapacity: true)
            }
            worker.finish()
            ours = min(ours, monotonicSeconds() - t0)
            windows = worker.op.openWindows
            guard worker.late.isEmpty else { throw RuntimeFailure("\(worker.late.count) late records") }
        }
        // Peer: the floor of any keyed aggregation — one hash-map update per record, no event time.
        var peer = Double.infinity
        var groups = 0
        for _ in 0..<rounds {
            var zone = TenantZone.johannesburg
            var map: [String: [EpochMillis: CountSum.State]] = [:]
            let t0 = monotonicSeconds()
            for r in all {
                let h = zone.hourStart(r.time)
                map[r.value.key, default: [:]][h, default: CountSum.State(count: 0, sum: 0)].count += 1
                map[r.value.key]![h]!.sum += r.value.value
            }
            peer = min(peer, monotonicSeconds() - t0)
            groups = map.values.reduce(0) { $0 + $1.count }
        }
        _ = windows
        print(String(format: "runtime (watermarks, lateness, timers, firing): %.0f events/s", Double(all.count) / ours))
        print(String(format: "plain group-by (Dictionary, no event time): %.0f events/s (%d groups)", Double(all.count) / peer, groups))
        print(String(format: "ratio: %.2fx the plain group-by", peer / ours))
    }
}

/// Every operator of the default pipeline over generated events (decode excluded).
struct OperatorsBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "operators",
        abstract: "All operators of Pipelines/analytics.yaml over pre-decoded generated events, vs the decode-only pass.")

    @Option(help: "The pipeline file.") var pipeline: String = "Pipelines/analytics.yaml"
    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 3
    @Option(help: "Records per batch.") var batch: Int = 4096
    @Flag(help: "Also report the time spent in each operator.") var timed = false
    @Option(help: "Timed rounds (the best counts).") var rounds: Int = 3

    func run() throws {
        let records = benchStream(tenants: tenants, days: days, duplicates: 0.01)
        let decoder = EventDecoder()
        // The peer, timed in the same rounds as the operators (the VM's speed drifts).
        var decodeSeconds = Double.infinity
        func decodeRound() {
            let t0 = monotonicSeconds()
            var n = 0
            for r in records { if case .success(let e) = decoder.decode(r.value) { n &+= e.eventID.utf8.count } }
            decodeSeconds = min(decodeSeconds, monotonicSeconds() - t0)
            precondition(n > 0)
        }
        func decode(_ slice: ArraySlice<GeneratedRecord>) -> [Timestamped<Event>] {
            var events: [Timestamped<Event>] = []
            events.reserveCapacity(slice.count)
            for r in slice { if case .success(let e) = decoder.decode(r.value) { events.append(Timestamped(time: e.time, value: e)) } }
            return events
        }
        let recordBatches = stride(from: 0, to: records.count, by: batch).map { records[$0..<min($0 + batch, records.count)] }
        let p = try loadPipeline(pipeline)
        /// One pass through a fresh runner; the seconds spent in the runner. Every event decoded
        /// before the pass (`preDecoded`), or each batch decoded (untimed) just before the runner
        /// takes it, as in the pipeline (decoding in between evicts operator state from the cache
        /// and scatters the events in memory: measured slower).
        func pass(_ runner: PipelineRunner, preDecoded: [[Timestamped<Event>]]?) -> Double {
            var seconds = 0.0
            for (i, records) in recordBatches.enumerated() {
                // The runner owns its batch, as when it decodes one: a copy of the kept batch
                // (untimed), or else dedupe's in-place filter would copy it (timed).
                let events = preDecoded.map { $0[i].map { $0 } } ?? decode(records)
                let t0 = monotonicSeconds()
                runner.process(partition: 0, events: events, now: 0)
                seconds += monotonicSeconds() - t0
            }
            let t0 = monotonicSeconds()
            runner.finish()
            return seconds + monotonicSeconds() - t0
        }
        let preDecoded = recordBatches.map(decode)
        let eventCount = preDecoded.reduce(0) { $0 + $1.count }
        var upFront = Double.infinity, interleaved = Double.infinity
        var runner = try PipelineRunner(config: p, partitions: [0])
        for _ in 0..<rounds {
            decodeRound()
            runner = try PipelineRunner(config: p, partitions: [0])
            upFront = min(upFront, pass(runner, preDecoded: preDecoded))
            interleaved = min(interleaved, pass(try PipelineRunner(config: p, partitions: [0]), preDecoded: nil))
        }
        print("events: \(eventCount) (\(tenants) tenants × \(days) days, 1 % duplicates, 20 s disorder), batches of \(batch)")
        print(String(format: "all operators of %@: %.0f events/s (%.2f s)", p.name, Double(eventCount) / upFront, upFront))
        print(String(format: "  interleaved with decoding (each batch decoded untimed just before): %.0f events/s (%.2f s)", Double(eventCount) / interleaved, interleaved))
        print(String(format: "decode + validate alone, same records: %.0f events/s (%.2f s)", Double(records.count) / decodeSeconds, decodeSeconds))
        print(String(format: "ratio: operators take %.2fx the decode time (interleaved: %.2fx)", upFront / decodeSeconds, interleaved / decodeSeconds))
        if timed {
            // Per operator, the best of `rounds` instrumented passes (one pass is at the VM's mercy).
            var best: [UInt64] = []
            var names: [String] = []
            var outside = Double.infinity // the pass's time not inside any operator
            for _ in 0..<rounds {
                let t = try PipelineRunner(config: p, partitions: [0])
                t.timing = true
                let seconds = pass(t, preDecoded: preDecoded)
                best = best.isEmpty ? t.stageNanos : zip(best, t.stageNanos).map { min($0, $1) }
                outside = min(outside, seconds - Double(t.stageNanos.reduce(0, +)) / 1e9)
                names = t.stageNames
            }
            print("time per operator (best of \(rounds) instrumented passes):")
            for (n, ns) in zip(names, best) {
                print(String(format: "  %-22@ %6.0f ms  %5.0f ns/event", n, Double(ns) / 1e6, Double(ns) / Double(eventCount)))
            }
            print(String(format: "  %-22@ %6.0f ms  %5.0f ns/event", "(between operators)", outside * 1e3, outside * 1e9 / Double(eventCount)))
        }
        for (name, n) in runner.counters where !name.contains(".partition_") { print("  \(name): \(n)") }
        let k = StateFootprint.dedupeKey
        print("state per dedupe key: \(k.lowerBound)–\(k.upperBound) bytes (log entry + 8-byte index slot, live keys filling 1/8 to 1/2 of the index; ids ≤ 15 bytes stay inline)")
        print("state per open order: \(StateFootprint.openOrder) bytes + \(StateFootprint.historyEntry) per status change; a held event \(StateFootprint.heldEvent) bytes per operator holding it + \(StateFootprint.event) bytes once (shared)")
    }
}

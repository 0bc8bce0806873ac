import Domain
import Ingest
import Testing
@testable import Operators

/// The same input through the runtime gives the same outputs whatever the batch size, the number
/// of partitions and workers, and the arrival order within the out-of-orderness bound; and a
/// snapshot taken anywhere, restored in a fresh worker, continues to the same outputs.
@Suite struct DeterminismTests {
    static let settings = EventTimeSettings(maxOutOfOrderness: 30_000, idleTimeout: 60_000, allowedLateness: 600_000)

    /// Order totals per tenant from a generated stream, in event-time order.
    static let orders: [Rec] = {
        let decoder = EventDecoder()
        var out: [Rec] = []
        for r in generatedStream(seed: 11, tenants: 8, days: 2, ordersPerDay: 60) {
            guard case .success(let e) = decoder.decode(r.value), case .orderCreated(let o) = e.payload else { continue }
            out.append(Timestamped(time: e.time, value: Keyed(key: e.tenantID, value: o.totalAmount.cents)))
        }
        return out.sorted { $0.time < $1.time }
    }()

    /// An arrival order: each record arrives up to `bound` after its event time.
    static func arrivals(seed: UInt64, bound: Int64) -> [(arrival: EpochMillis, rec: Rec)] {
        var rng = SplitMix64(seed: seed)
        return orders.map { (arrival: $0.time + rng.int64(0...bound), rec: $0) }
            .enumerated().sorted { ($0.element.arrival, $0.offset) < ($1.element.arrival, $1.offset) }.map(\.element)
    }

    /// A stable partitioner (FNV-1a of the key), like the Kafka producer's murmur2.
    static func partition(_ key: String, of n: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(h % UInt64(n))
    }

    static func op() -> WindowAggregator<String, CountSum> {
        WindowAggregator(name: "hourly", spec: .tumbling(size: hour), allowedLateness: settings.allowedLateness,
                         zone: .johannesburg, aggregation: CountSum())
    }

    /// Runs `input` split into `partitions` partitions by `workers` workers (partition p belongs
    /// to worker p % workers), like a consumer's poll loop: records come in arrival order, and a
    /// partition's buffer is handed over when it holds `batch` records or its oldest record has
    /// waited a second. Processing time is the arrival time, so idleness behaves as in real time.
    static func run(_ input: [(arrival: EpochMillis, rec: Rec)], partitions: Int, workers: Int, batch: Int) -> [Result] {
        var ws = (0..<workers).map { w in
            WindowWorker(settings: settings, partitions: (0..<partitions).filter { $0 % workers == w }, now: 0, op: op())
        }
        var buffers = Array(repeating: [(arrival: EpochMillis, rec: Rec)](), count: partitions)
        func flush(_ p: Int, now: EpochMillis) {
            guard !buffers[p].isEmpty else { return }
            ws[p % workers].process(partition: p, batch: buffers[p].map(\.rec), now: now)
            buffers[p] = []
        }
        for x in input {
            for p in 0..<partitions where !buffers[p].isEmpty && x.arrival - buffers[p][0].arrival >= 1_000 { flush(p, now: x.arrival) }
            let p = partition(x.rec.value.key, of: partitions)
            buffers[p].append(x)
            if buffers[p].count >= batch { flush(p, now: x.arrival) }
        }
        for p in 0..<partitions { flush(p, now: input.last?.arrival ?? 0) }
        for w in ws.indices { ws[w].finish() }
        #expect(ws.allSatisfy { $0.late.isEmpty })
        return ws.flatMap(\.out).sorted { ($0.window, $0.key) < ($1.window, $1.key) }
    }

    /// Compares without printing thousands of results on a mismatch.
    static func same(_ a: [Result], _ b: [Result]) -> Bool {
        guard a.count == b.count else { Issue.record("\(a.count) results, expected \(b.count)"); return false }
        if let i = a.indices.first(where: { a[$0] != b[$0] }) { Issue.record("first difference at \(i): \(a[i]) vs \(b[i])"); return false }
        return true
    }

    static let reference = run(arrivals(seed: 0, bound: 0), partitions: 1, workers: 1, batch: 1)

    @Test func referenceIsWhatTheInputSays() {
        // Cross-check the reference against a plain group-by of the same records.
        var zone = TenantZone.johannesburg
        var expected: [String: CountSum.State] = [:]
        for r in Self.orders {
            let start = zone.hourStart(r.time)
            expected["\(r.value.key)@\(start)", default: cs(0, 0)].count += 1
            expected["\(r.value.key)@\(start)", default: cs(0, 0)].sum += r.value.value
        }
        let got = Dictionary(uniqueKeysWithValues: Self.reference.map { ("\($0.key)@\($0.window.start)", $0.value) })
        #expect(got == expected)
        #expect(Self.reference.count > 100)
        #expect(Self.reference.allSatisfy { !$0.isUpdate })
    }

    @Test(arguments: [1, 7, 4096])
    func batchSizes(batch: Int) {
        #expect(Self.same(Self.run(Self.arrivals(seed: 0, bound: 0), partitions: 1, workers: 1, batch: batch), Self.reference))
    }

    @Test(arguments: [(8, 1), (8, 8), (3, 2)])
    func partitionsAndWorkers(partitions: Int, workers: Int) {
        for batch in [1, 7, 4096] {
            #expect(Self.same(Self.run(Self.arrivals(seed: 0, bound: 0), partitions: partitions, workers: workers, batch: batch), Self.reference))
        }
    }

    @Test func anyArrivalOrderWithinTheBound() {
        // A property over random shuffles: every record arrives up to 30 s (the bound) late.
        for seed in 1...25 as ClosedRange<UInt64> {
            let input = Self.arrivals(seed: seed, bound: Self.settings.maxOutOfOrderness)
            var rng = SplitMix64(seed: seed * 31)
            let partitions = rng.pick([1, 2, 8])
            let out = Self.run(input, partitions: partitions, workers: rng.pick([1, partitions]), batch: rng.pick([1, 7, 64, 4096]))
            #expect(Self.same(out, Self.reference), "seed \(seed)")
        }
    }

    @Test func snapshotAnywhereRestoreContinue() throws {
        let input = Self.arrivals(seed: 5, bound: Self.settings.maxOutOfOrderness).map(\.rec)
        var rng = SplitMix64(seed: 77)
        for _ in 0..<6 {
            let cut = rng.int(0...input.count)
            var first = WindowWorker(settings: Self.settings, partitions: [0], now: 0, op: Self.op())
            for chunk in stride(from: 0, to: cut, by: 50) {
                let part = Array(input[chunk..<min(chunk + 50, cut)])
                first.process(partition: 0, batch: part, now: part.last!.time)
            }
            let bytes = try first.snapshot()
            var second = WindowWorker(settings: Self.settings, partitions: [0], now: 0, op: Self.op())
            try second.restore(bytes)
            #expect(try second.snapshot() == bytes) // restore is exact
            for chunk in stride(from: cut, to: input.count, by: 50) {
                let part = Array(input[chunk..<min(chunk + 50, input.count)])
                second.process(partition: 0, batch: part, now: part.last!.time)
            }
            second.finish()
            let combined = (first.out + second.out).sorted { ($0.window, $0.key) < ($1.window, $1.key) }
            #expect(Self.same(combined, Self.reference), "cut at \(cut)")
        }
    }

    @Test func snapshotsAreCheckedOnRestore() throws {
        let w = WindowWorker(settings: Self.settings, partitions: [0], now: 0, op: Self.op())
        let bytes = try w.snapshot()
        var other = WindowWorker(settings: Self.settings, partitions: [0], now: 0,
                                 op: WindowAggregator<String, CountSum>(name: "daily", spec: .tumbling(size: 24 * hour), allowedLateness: 0, aggregation: CountSum()))
        #expect(throws: SnapshotError.wrongOperator(expected: "worker:daily", found: "worker:hourly")) { try other.restore(bytes) }
        var same = w
        #expect(throws: SnapshotError.badMagic) { try same.restore(Array("garbage!".utf8)) }
        var truncated = bytes
        truncated.removeLast(5)
        #expect(throws: SnapshotError.self) { try same.restore(truncated) }
    }
}

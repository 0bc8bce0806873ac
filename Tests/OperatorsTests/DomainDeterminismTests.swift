import Domain
import Foundation
import Ingest
import Testing
@testable import Operators

/// The default pipeline over one generated stream, in order, shuffled within the bound, and split
/// across 8 partitions: identical rollups, read-model sources and derived events.
@Suite struct DomainDeterminismTests {
    static let stream = generatedStream(seed: 5, tenants: 6, days: 2, ordersPerDay: 25, duplicates: 0.01)

    static func run(_ records: [(arrival: EpochMillis, rec: GeneratedRecord)], partitions: Int, batch: Int,
                    config: PipelineConfig? = nil) throws -> PipelineRunner {
        let config = try config ?? PipelineConfig.load(path: RunnerTests.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        let runner = try PipelineRunner(config: config, partitions: Array(0..<partitions))
        var buffers = Array(repeating: [(arrival: EpochMillis, rec: GeneratedRecord)](), count: partitions)
        var offset: Int64 = 0
        func flush(_ p: Int, now: EpochMillis) {
            guard !buffers[p].isEmpty else { return }
            var arena: [UInt8] = []
            var spans: [(Range<Int>, Int64)] = []
            for x in buffers[p] {
                offset += 1
                spans.append((arena.count..<(arena.count + x.rec.value.count), offset))
                arena += x.rec.value
            }
            arena.withUnsafeBytes { all in
                runner.process(partition: p, records: spans.map { (UnsafeRawBufferPointer(rebasing: all[$0.0]), $0.1) }, now: now)
            }
            buffers[p] = []
        }
        for x in records {
            for p in 0..<partitions where !buffers[p].isEmpty && x.arrival - buffers[p][0].arrival >= 1_000 { flush(p, now: x.arrival) }
            let p = KafkaPartitioner.partition(x.rec.key, count: partitions)
            buffers[p].append(x)
            if buffers[p].count >= batch { flush(p, now: x.arrival) }
        }
        for p in 0..<partitions { flush(p, now: records.last!.arrival) }
        runner.finish()
        return runner
    }

    @Test func inOrderShuffledAndPartitionedAgree() throws {
        let inOrder = Self.stream.map { (arrival: $0.arrival, rec: $0) }
        var rng = SplitMix64(seed: 99)
        let shuffled = Self.stream.enumerated().map { (arrival: $0.element.eventTime + rng.int64(0...30_000), seq: $0.offset, rec: $0.element) }
            .sorted { ($0.arrival, $0.seq) < ($1.arrival, $1.seq) }.map { (arrival: $0.arrival, rec: $0.rec) }
        let a = try Self.run(inOrder, partitions: 1, batch: 512)
        let b = try Self.run(shuffled, partitions: 1, batch: 64)
        let c = try Self.run(shuffled, partitions: 8, batch: 4096)
        #expect(a.late == 0 && b.late == 0 && c.late == 0)
        for op in a.config.operators.map(\.name) {
            let ra = a.rows[op] ?? [], rb = b.rows[op] ?? [], rc = c.rows[op] ?? []
            #expect(ra == rb, "\(op): in order vs shuffled")
            #expect(ra == rc, "\(op): one vs eight partitions")
        }
        #expect((a.rows["rollups"] ?? []).count > 100)
        #expect((a.rows["orders"] ?? []).count > 500)
        #expect((a.rows["deliveries"] ?? []).count > 500)
        // The repartition counters say how keys spread over the partitions; everything else agrees.
        let same = { (r: PipelineRunner) in r.counters.filter { !$0.0.contains(".partition_") }.map { "\($0.0)=\($0.1)" } }
        #expect(same(a) == same(c))
    }

    /// `statuses: orders` (the rollup takes the state machine's status changes) gives the same
    /// rollups as the rollup running its own state machine.
    @Test func rollupWithTakenStatusesEqualsItsOwnStateMachine() throws {
        let path = RunnerTests.repo.appendingPathComponent("Pipelines/analytics.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("    statuses: orders\n"))
        let own = try PipelineConfig.parse(text.replacingOccurrences(of: "    statuses: orders\n", with: ""), file: "own.yaml", environment: [:])
        let records = Self.stream.map { (arrival: $0.arrival, rec: $0) }
        let taken = try Self.run(records, partitions: 1, batch: 256)
        let separate = try Self.run(records, partitions: 1, batch: 256, config: own)
        let a = taken.rows["rollups"] ?? [], b = separate.rows["rollups"] ?? []
        #expect(a.count > 100)
        #expect(a == b)
        // Mid-stream snapshots of the two kinds are not interchangeable.
        let other = try PipelineRunner(config: own)
        #expect(throws: (any Error).self) { try other.restore(try taken.snapshot()) }
    }
}

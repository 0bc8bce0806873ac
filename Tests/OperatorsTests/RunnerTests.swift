import Domain
import Foundation
import Ingest
import Testing
@testable import Operators

@Suite struct RunnerTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let pipeline = repo.appendingPathComponent("Pipelines/examples/orders-per-hour.yaml").path

    static let stream = generatedStream(seed: 21, tenants: 6, days: 2, ordersPerDay: 30, disorderMillis: 20_000,
                                        duplicates: 0.02, malformed: 0.003)

    static func replay(_ records: ArraySlice<GeneratedRecord>, into runner: PipelineRunner, batch: Int, firstOffset: Int64) {
        var offset = firstOffset
        for chunk in stride(from: records.startIndex, to: records.endIndex, by: batch) {
            let part = records[chunk..<min(chunk + batch, records.endIndex)]
            var arena: [UInt8] = []
            var spans: [(Range<Int>, Int64)] = []
            for r in part {
                offset += 1
                spans.append((arena.count..<(arena.count + r.value.count), offset))
                arena += r.value
            }
            arena.withUnsafeBytes { all in
                runner.process(partition: 0, records: spans.map { (UnsafeRawBufferPointer(rebasing: all[$0.0]), $0.1) }, now: part.last!.arrival)
            }
        }
    }

    @Test func dailyOrdersEqualAnIndependentCount() throws {
        let runner = try PipelineRunner(config: try PipelineConfig.load(path: Self.pipeline), partitions: [0])
        Self.replay(Self.stream[...], into: runner, batch: 512, firstOffset: 0)
        runner.finish()
        // Independently: distinct valid order.created per tenant and local day, in the tenant's zone.
        let decoder = EventDecoder()
        var zones: [String: TenantZone] = [:]
        var seen = Set<String>()
        var expected: [String: (Int64, Int64)] = [:]
        var rejected = 0
        for r in Self.stream {
            guard case .success(let e) = decoder.decode(r.value) else { rejected += 1; continue }
            if case .tenantCreated(let t) = e.payload { zones[e.tenantID] = TenantZone(identifier: t.timezone) }
            guard case .orderCreated(let o) = e.payload, seen.insert(e.eventID).inserted else { continue }
            var z = zones[e.tenantID] ?? .johannesburg
            let key = "\(e.tenantID)@\(RFC3339.format(z.dayStart(e.time)))"
            expected[key, default: (0, 0)].0 += 1
            expected[key, default: (0, 0)].1 += o.totalAmount.cents
        }
        var got: [String: (Int64, Int64)] = [:]
        for row in runner.rows["orders_daily"]! {
            guard case .string(let k) = row["key"], case .time(let start) = row["window_start"],
                  case .int(let n) = row["count"], case .int(let sum) = row["sum"] else { Issue.record("bad row \(row.json)"); continue }
            #expect(row["update"] == .bool(false))
            got["\(k)@\(RFC3339.format(start))"] = (n, sum)
        }
        #expect(got.count == expected.count)
        for (k, v) in expected { #expect(got[k].map { $0 == v } == true, "\(k): \(String(describing: got[k])) vs \(v)") }
        #expect(runner.deadLetters.count == rejected)
        #expect(runner.late == 0)
        // Dedupe dropped every re-delivery: accepted records minus distinct event ids.
        let distinct = Set(Self.stream.compactMap { try? decoder.decode($0.value).get().eventID }).count
        #expect(runner.accepted == Self.stream.count - rejected)
        #expect(runner.counters.first { $0.0 == "dedupe.duplicates" }!.1 == runner.accepted - distinct)
        #expect(runner.accepted - distinct > 0)
    }

    @Test(arguments: ["Pipelines/examples/orders-per-hour.yaml", "Pipelines/examples/order-lifecycle.yaml", "Pipelines/analytics.yaml"])
    func snapshotMidStreamRestoreContinue(pipeline: String) throws {
        let config = try PipelineConfig.load(path: Self.repo.appendingPathComponent(pipeline).path, environment: [:])
        let whole = try PipelineRunner(config: config, partitions: [0])
        Self.replay(Self.stream[...], into: whole, batch: 300, firstOffset: 0)
        whole.finish()

        #expect(whole.rows.values.reduce(0) { $0 + $1.count } > 100)
        let cut = Self.stream.count * 3 / 5
        let first = try PipelineRunner(config: config, partitions: [0])
        Self.replay(Self.stream[..<cut], into: first, batch: 300, firstOffset: 0)
        let bytes = try first.snapshot()
        let second = try PipelineRunner(config: config, partitions: [0])
        try second.restore(bytes)
        #expect(try second.snapshot() == bytes) // restore is exact
        Self.replay(Self.stream[cut...], into: second, batch: 300, firstOffset: Int64(cut))
        second.finish()
        for op in config.operators.map(\.name) {
            #expect((first.rows[op] ?? []) + (second.rows[op] ?? []) == (whole.rows[op] ?? []), "\(op)")
        }
        #expect(first.deadLetters + second.deadLetters == whole.deadLetters)
        #expect(second.counters.map(\.1) == whole.counters.map(\.1))
    }

    @Test func everyDeclaredOperatorTypeRuns() throws {
        #expect(Set(PipelineConfig.operatorSchemas.keys) == PipelineRunner.runnableTypes)
        let config = try PipelineConfig.load(path: Self.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        #expect(try PipelineRunner(config: config).config.operators.count == 7)
    }
}

@Suite struct ScenarioTests {
    @Test func everyProjectScenarioPasses() throws {
        let dir = RunnerTests.repo.appendingPathComponent("Tests/Scenarios")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count >= 3)
        for f in files {
            let s = try Scenario.load(path: dir.appendingPathComponent(f).path)
            let outcome = try s.run()
            #expect(outcome.passed, "\(s.name):\n\(outcome.diff)")
        }
    }

    @Test func aWrongExpectationFailsWithADiff() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-scenario-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try String(contentsOf: RunnerTests.repo.appendingPathComponent("Tests/Scenarios/lateness.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "../../Pipelines/", with: RunnerTests.repo.appendingPathComponent("Pipelines").path + "/")
            .replacingOccurrences(of: "count: 2, sum: 600", with: "count: 3, sum: 600")
        let file = dir.appendingPathComponent("wrong.yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let outcome = try Scenario.load(path: file).run()
        #expect(!outcome.passed)
        #expect(outcome.diff.contains("- row 3 expected: {key: t, window_start: 2026-03-01T12:00:00.000Z, count: 3, sum: 600, update: false}"))
        #expect(outcome.diff.contains("+ row 3 emitted:  {\"key\":\"t\",\"window_start\":\"2026-03-01T12:00:00.000Z\",\"window_end\":\"2026-03-01T13:00:00.000Z\",\"count\":2,\"sum\":600,\"update\":false}"))
    }
}

@Suite struct RunnerBatchTests {
    @Test func batchSizeDoesNotChangeAnything() throws {
        let config = try PipelineConfig.load(path: RunnerTests.pipeline)
        var results: [[String: [OutputRow]]] = []
        var letters: [[DeadLetter]] = []
        for batch in [1, 7, 4096] {
            let runner = try PipelineRunner(config: config, partitions: [0])
            RunnerTests.replay(RunnerTests.stream[...], into: runner, batch: batch, firstOffset: 0)
            runner.finish()
            results.append(runner.rows)
            letters.append(runner.deadLetters)
        }
        for op in config.operators.map(\.name) {
            #expect(results[1][op] == results[0][op], "\(op) batch 7")
            #expect(results[2][op] == results[0][op], "\(op) batch 4096")
        }
        #expect(letters[1] == letters[0] && letters[2] == letters[0])
        #expect((results[0]["orders_hourly"]?.count ?? 0) > 50)
    }
}

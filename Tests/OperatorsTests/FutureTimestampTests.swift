import Domain
import Foundation
import Ingest
import Testing
@testable import Operators

/// `max_future` (issue 27, point 4): an event more than a day ahead of its record's clock is a
/// `future_timestamp` dead letter and never moves a watermark — not even as a file's first record.
@Suite struct FutureTimestampTests {
    static let stream = RunnerTests.stream

    /// An order.created of the stream's first tenant at `time`.
    static func futureOrder(_ time: String, id: String = "evil-future") -> [UInt8] {
        Array(#"{"event_id":"\#(id)","event_type":"order.created","version":"1.0","timestamp":"\#(time)","tenant_id":"t-0001","data":{"order_id":"o-\#(id)","customer_id":"c-1","items":[{"product_id":"p","quantity":1,"unit_price":"5.00"}],"subtotal":"5.00","delivery_fee":0,"tax":0,"discount":0,"total_amount":"5.00","payment_method":"cash"}}"#.utf8)
    }

    /// Replays `records` as a file would: the clock from the head, then batches of `batch`.
    static func replay(_ records: [[UInt8]], batch: Int) throws -> PipelineRunner {
        let runner = try PipelineRunner(config: try PipelineConfig.load(path: RunnerTests.pipeline), partitions: [0])
        let head = records.prefix(PipelineRunner.clockSampleRecords)
        let arena = head.flatMap { $0 }
        arena.withUnsafeBytes { all in
            var at = 0
            runner.establishClock(partition: 0, sample: head.map { r in
                defer { at += r.count }
                return UnsafeRawBufferPointer(rebasing: all[at..<(at + r.count)])
            })
        }
        for start in stride(from: 0, to: records.count, by: batch) {
            runner.process(partition: 0, records: records[start..<min(start + batch, records.count)], firstOffset: Int64(start + 1), now: 0)
        }
        runner.finish()
        return runner
    }

    static func rows(_ r: PipelineRunner) -> [String] { r.rows.values.flatMap { $0 }.map(\.json).sorted() }

    @Test(arguments: [1, 64, 4096])
    func aFarFutureFirstRecordIsDeadLetteredAndPoisonsNothing(batch: Int) throws {
        let clean = Self.stream.map(\.value)
        let reference = try Self.replay(clean, batch: 512)
        // First record of the file, and once more in the middle.
        var hostile = clean
        hostile.insert(Self.futureOrder("9999-12-31T23:59:59Z"), at: 0)
        hostile.insert(Self.futureOrder("2026-03-05T00:00:00Z", id: "evil-2"), at: clean.count / 2) // days past the stream's clock there
        let runner = try Self.replay(hostile, batch: batch)
        let future = runner.deadLetters.filter { $0.reason == .futureTimestamp }
        #expect(future.map(\.offset) == [1, Int64(clean.count / 2 + 1)], "\(future.map { "\($0.offset): \($0.detail)" })")
        #expect(future.first?.detail.contains("partition's watermark") == true)
        #expect(runner.late == reference.late && runner.late == 0, "later events were judged late: \(runner.late)")
        #expect(Self.rows(runner) == Self.rows(reference))
        #expect(runner.deadLetters.count == reference.deadLetters.count + 2)
    }

    @Test func withinMaxFutureIsAcceptedAndAKafkaTimestampIsTheClock() throws {
        let runner = try PipelineRunner(config: try PipelineConfig.load(path: RunnerTests.pipeline), partitions: [0])
        let clock = ms("2026-03-01T10:00:00Z")
        let records = [Self.futureOrder("2026-03-02T09:59:59Z", id: "a"), Self.futureOrder("2026-03-02T10:00:01Z", id: "b"),
                       Self.futureOrder("2026-03-01T10:00:00Z", id: "c"), Self.futureOrder("2030-01-01T00:00:00Z", id: "d")]
        let arena = records.flatMap { $0 }
        arena.withUnsafeBytes { all in
            var at = 0
            let views = records.enumerated().map { i, r -> (bytes: UnsafeRawBufferPointer, offset: Int64) in
                defer { at += r.count }
                return (UnsafeRawBufferPointer(rebasing: all[at..<(at + r.count)]), Int64(i))
            }
            // d has no Kafka timestamp (-1): judged by the partition's watermark (a + 23:59:59 − 30 s).
            runner.process(partition: 0, records: views, now: 0, source: "orders", sourcePartition: 5, clocks: [clock, clock, clock, -1])
        }
        let dead = runner.deadLetters
        #expect(dead.map(\.offset) == [1, 3], "\(dead.map(\.detail))")
        #expect(dead.allSatisfy { $0.reason == .futureTimestamp && $0.partition == 5 && $0.source == "orders" })
        #expect(dead.first?.detail.contains("Kafka timestamp") == true)
        #expect(runner.accepted == 2)
        // The rejected record moved nothing: the watermark is a's time − 30 s.
        #expect(runner.tracker.current == ms("2026-03-02T09:59:29Z"))
    }

    @Test func maxFutureIsAPipelineKey() throws {
        let yaml = try String(contentsOfFile: RunnerTests.pipeline, encoding: .utf8)
            .replacingOccurrences(of: "event_time:\n", with: "event_time:\n  max_future: 400d\n")
        let config = try PipelineConfig.parse(yaml, file: "x.yaml")
        #expect(config.eventTime.maxFuture == 400 * 86_400_000)
        #expect(EventTimeSettings().maxFuture == 86_400_000)
    }
}

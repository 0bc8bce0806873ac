import Domain
import Testing
@testable import Operators

@Suite struct TumblingWindowTests {
    @Test func firesWhenTheWatermarkPassesTheEnd() {
        var op = aggregator(.tumbling(size: hour))
        var late: [Rec] = [], out: [Result] = []
        op.process([rec("2026-03-01T10:05:00Z", "a", 5), rec("2026-03-01T10:20:00Z", "a", 7),
                    rec("2026-03-01T10:59:59.999Z", "b", 1), rec("2026-03-01T11:00:00Z", "a", 3)], late: &late, out: &out)
        op.advance(to: ms("2026-03-01T10:59:59.999Z"), out: &out)
        #expect(out.isEmpty) // the end (11:00) is exclusive: not passed yet
        op.advance(to: ms("2026-03-01T11:00:00Z"), out: &out)
        // Hand-worked: a has 10:05 (5) and 10:20 (7) → 2 records, 12; b has 1 record, 1.
        #expect(out == [result("a", win("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"), 2, 12),
                        result("b", win("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"), 1, 1)])
        out = []
        op.advance(to: WatermarkTracker.end, out: &out)
        #expect(out == [result("a", win("2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"), 1, 3)])
        #expect(op.openWindows == 0)
        #expect(late.isEmpty)
    }

    @Test func dailyWindowsInJohannesburgStartAt2200UTC() {
        var op = aggregator(.tumbling(size: 24 * hour), zone: "Africa/Johannesburg")
        var late: [Rec] = [], out: [Result] = []
        op.process([rec("2026-03-01T21:59:59Z", "t", 100), rec("2026-03-01T22:00:00Z", "t", 1),
                    rec("2026-02-28T22:00:00Z", "t", 10)], late: &late, out: &out)
        op.advance(to: WatermarkTracker.end, out: &out)
        #expect(out == [result("t", win("2026-02-28T22:00:00Z", "2026-03-01T22:00:00Z"), 2, 110),
                        result("t", win("2026-03-01T22:00:00Z", "2026-03-02T22:00:00Z"), 1, 1)])
    }

    @Test func perKeyTimezones() {
        var op = aggregator(.tumbling(size: 24 * hour), zone: "Africa/Johannesburg")
        op.setZone(TenantZone(identifier: "Africa/Nairobi")!, for: "nbo")
        var late: [Rec] = [], out: [Result] = []
        // 21:30 UTC is 23:30 in Johannesburg (same day) but 00:30 the next day in Nairobi.
        op.process([rec("2026-03-01T21:30:00Z", "jnb", 1), rec("2026-03-01T21:30:00Z", "nbo", 1)], late: &late, out: &out)
        op.advance(to: WatermarkTracker.end, out: &out)
        #expect(out.sorted { $0.key < $1.key } == [
            result("jnb", win("2026-02-28T22:00:00Z", "2026-03-01T22:00:00Z"), 1, 1),
            result("nbo", win("2026-03-01T21:00:00Z", "2026-03-02T21:00:00Z"), 1, 1)])
    }

    @Test func dstDayIs23Hours() {
        var op = aggregator(.tumbling(size: 24 * hour), zone: "Europe/London")
        var late: [Rec] = [], out: [Result] = []
        op.process([rec("2026-03-29T12:00:00Z", "k", 1)], late: &late, out: &out)
        op.advance(to: WatermarkTracker.end, out: &out)
        // Local 29 March runs from 00:00 GMT to 00:00 BST = 23:00 UTC.
        #expect(out == [result("k", win("2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z"), 1, 1)])
    }
}

@Suite struct HoppingWindowTests {
    @Test func recordBelongsToSizeOverSlideWindows() {
        var op = aggregator(.hopping(size: hour, slide: 30 * minute))
        var late: [Rec] = [], out: [Result] = []
        op.process([rec("2026-03-01T10:40:00Z", "a", 4), rec("2026-03-01T10:10:00Z", "a", 1)], late: &late, out: &out)
        op.advance(to: WatermarkTracker.end, out: &out)
        // 10:10 is in [09:30,10:30) and [10:00,11:00); 10:40 is in [10:00,11:00) and [10:30,11:30).
        #expect(out == [result("a", win("2026-03-01T09:30:00Z", "2026-03-01T10:30:00Z"), 1, 1),
                        result("a", win("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"), 2, 5),
                        result("a", win("2026-03-01T10:30:00Z", "2026-03-01T11:30:00Z"), 1, 4)])
    }
}

@Suite struct SessionWindowTests {
    @Test func gapsSplitSessions() {
        var op = aggregator(.session(gap: 10 * minute))
        var late: [Rec] = [], out: [Result] = []
        op.process([rec("2026-03-01T10:00:00Z", "a", 1), rec("2026-03-01T10:05:00Z", "a", 2),
                    rec("2026-03-01T10:30:00Z", "a", 4), rec("2026-03-01T10:01:00Z", "b", 8)], late: &late, out: &out)
        op.advance(to: WatermarkTracker.end, out: &out)
        // a: 10:00 and 10:05 are within 10 min → [10:00, 10:15); 10:30 → [10:30, 10:40). b alone.
        #expect(out == [result("b", win("2026-03-01T10:01:00Z", "2026-03-01T10:11:00Z"), 1, 8),
                        result("a", win("2026-03-01T10:00:00Z", "2026-03-01T10:15:00Z"), 2, 3),
                        result("a", win("2026-03-01T10:30:00Z", "2026-03-01T10:40:00Z"), 1, 4)])
    }

    @Test func aBridgingRecordMergesTwoSessions() {
        var op = aggregator(.session(gap: 10 * minute))
        var late: [Rec] = [], out: [Result] = []
        op.process([rec("2026-03-01T10:00:00Z", "a", 1), rec("2026-03-01T10:20:00Z", "a", 2)], late: &late, out: &out)
        #expect(op.openWindows == 2)
        op.process([rec("2026-03-01T10:10:00Z", "a", 4)], late: &late, out: &out)
        #expect(op.openWindows == 1)
        op.advance(to: WatermarkTracker.end, out: &out)
        #expect(out == [result("a", win("2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z"), 3, 7)])
    }
}

@Suite struct LatenessTests {
    @Test func withinLatenessRefiresLateDropsAndStateIsPurged() {
        var op = aggregator(.tumbling(size: hour), lateness: 10 * minute)
        var late: [Rec] = [], out: [Result] = []
        let w10 = win("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z")
        op.process([rec("2026-03-01T10:30:00Z", "a", 1)], late: &late, out: &out)
        op.advance(to: ms("2026-03-01T11:00:00Z"), out: &out)
        #expect(out == [result("a", w10, 1, 1)])
        out = []
        // Watermark 11:00, lateness 10 min: 10:55 ≥ 10:50 is allowed → the window re-fires.
        op.process([rec("2026-03-01T10:55:00Z", "a", 2)], late: &late, out: &out)
        #expect(out == [result("a", w10, 2, 3, update: true)])
        // 10:45 < 10:50 is late: side output, window unchanged.
        out = []
        op.process([rec("2026-03-01T10:45:00Z", "a", 100)], late: &late, out: &out)
        #expect(out.isEmpty)
        #expect(late.map(\.time) == [ms("2026-03-01T10:45:00Z")])
        #expect(op.lateCount == 1)
        // State of [10:00, 11:00) stays until the watermark passes 11:10, then goes.
        op.advance(to: ms("2026-03-01T11:09:59Z"), out: &out)
        #expect(op.openWindows == 1)
        op.advance(to: ms("2026-03-01T11:10:00Z"), out: &out)
        #expect(op.openWindows == 0)
        #expect(out.isEmpty)
    }

    @Test func aWindowFirstSeenAfterItsEndFiresAtOnce() {
        var op = aggregator(.tumbling(size: hour), lateness: 10 * minute)
        var late: [Rec] = [], out: [Result] = []
        op.advance(to: ms("2026-03-01T11:05:00Z"), out: &out)
        op.process([rec("2026-03-01T10:58:00Z", "z", 9)], late: &late, out: &out)
        #expect(out == [result("z", win("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"), 1, 9, update: true)])
    }
}

@Suite struct WatermarkTests {
    let settings = EventTimeSettings(maxOutOfOrderness: 30_000, idleTimeout: 60_000, allowedLateness: 600_000)

    @Test func boundedOutOfOrderness() {
        var t = WatermarkTracker(settings: settings, partitions: [0], now: 0)
        #expect(t.advance(now: 0) == WatermarkTracker.start)
        t.observe(partition: 0, eventTime: ms("2026-03-01T10:00:00Z"), now: 1)
        #expect(t.advance(now: 1) == ms("2026-03-01T09:59:30Z"))
        // An older record does not move it back.
        t.observe(partition: 0, eventTime: ms("2026-03-01T09:00:00Z"), now: 2)
        #expect(t.advance(now: 2) == ms("2026-03-01T09:59:30Z"))
        #expect(t.isLate(ms("2026-03-01T09:49:29Z")))
        #expect(!t.isLate(ms("2026-03-01T09:49:30Z")))
    }

    @Test func minimumAcrossPartitionsAndIdleness() {
        var t = WatermarkTracker(settings: settings, partitions: [0, 1], now: 0)
        t.observe(partition: 0, eventTime: ms("2026-03-01T10:00:00Z"), now: 1_000)
        // Partition 1 has no data yet and is not idle: it holds the watermark back.
        #expect(t.advance(now: 1_000) == WatermarkTracker.start)
        t.observe(partition: 1, eventTime: ms("2026-03-01T09:00:00Z"), now: 2_000)
        #expect(t.advance(now: 2_000) == ms("2026-03-01T08:59:30Z"))
        t.observe(partition: 0, eventTime: ms("2026-03-01T10:05:00Z"), now: 50_000)
        #expect(t.advance(now: 61_999) == ms("2026-03-01T08:59:30Z")) // 59.999 s since p1's last record
        // 60 s of processing time without a record: partition 1 is idle and no longer counts.
        #expect(t.isIdle(partition: 1, now: 62_000))
        #expect(t.advance(now: 62_000) == ms("2026-03-01T10:04:30Z"))
        // It comes back with old data: the watermark does not go backwards.
        t.observe(partition: 1, eventTime: ms("2026-03-01T09:10:00Z"), now: 63_000)
        #expect(t.advance(now: 63_000) == ms("2026-03-01T10:04:30Z"))
    }

    @Test func aPartitionWithUnreadRecordsIsNotIdleAndStillHoldsTheWatermark() {
        // A partition whose log holds unread records (its reader says so, Kafka mode) is not idle: it
        // stays in the minimum however long no record of it came.
        var t = WatermarkTracker(settings: settings, partitions: [0, 1], now: 0)
        t.observe(partition: 1, eventTime: ms("2026-03-01T09:00:00Z"), now: 1_000)
        t.observe(partition: 0, eventTime: ms("2026-03-01T10:00:00Z"), now: 1_000)
        // At 61 s partition 1's log still holds unread records (partition 0's does not).
        var asked: [Int] = []
        t.holdActive(now: 61_000) { asked.append($0); return $0 == 1 }
        #expect(asked.sorted() == [0, 1]) // both timed out at 61 s; only they are asked
        t.observe(partition: 0, eventTime: ms("2026-03-01T10:05:00Z"), now: 100_000)
        #expect(!t.isIdle(partition: 1, now: 100_000))
        #expect(!t.allIdle(now: 120_000)) // partition 0's record at 100 s
        #expect(t.advance(now: 100_000) == ms("2026-03-01T08:59:30Z"))
        // Not held since 61 s: idle at 121 s, and the watermark moves on.
        #expect(t.advance(now: 121_000) == ms("2026-03-01T10:04:30Z"))
        // Partitions still in time are not asked.
        asked = []
        t.holdActive(now: 121_000) { asked.append($0); return false }
        #expect(asked == [1])
    }

    @Test func allIdleHoldsEndOfInputReleases() {
        var t = WatermarkTracker(settings: settings, partitions: [0], now: 0)
        t.observe(partition: 0, eventTime: ms("2026-03-01T10:00:00Z"), now: 0)
        #expect(t.advance(now: 0) == ms("2026-03-01T09:59:30Z"))
        #expect(t.advance(now: 10 * 60_000) == ms("2026-03-01T09:59:30Z"))
        t.endOfInput()
        #expect(t.current == WatermarkTracker.end)
    }

    @Test func idlePartitionReleasesWindowsInAWorker() {
        // Partition 1 never sends anything: after the idle timeout the window fires anyway.
        var w = WindowWorker(settings: settings, partitions: [0, 1], now: 0, op: aggregator(.tumbling(size: hour)))
        w.process(partition: 0, batch: [rec("2026-03-01T10:30:00Z", "a", 1), rec("2026-03-01T11:00:30Z", "a", 1)], now: 1_000)
        #expect(w.out.isEmpty)
        w.tick(now: 59_999) // partition 1 registered at 0: still holding the watermark back
        #expect(w.out.isEmpty)
        w.tick(now: 60_000) // idle now; partition 0 (last record at 1 000) is still active
        #expect(w.tracker.current == ms("2026-03-01T11:00:00Z"))
        #expect(w.out == [result("a", win("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"), 1, 1)])
    }
}

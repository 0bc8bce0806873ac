import Domain

/// Event-time settings (CONTRACT §2): the pipeline file's `event_time` block.
public struct EventTimeSettings: Sendable, Equatable {
    /// Bounded out-of-orderness: watermark = max event time seen − this. Default 30 s.
    public var maxOutOfOrderness: Int64 = 30_000
    /// A partition without records for this long (processing time) stops holding the
    /// watermark back. Default 60 s.
    public var idleTimeout: Int64 = 60_000
    /// Records older than watermark − this are late. Default 10 min.
    public var allowedLateness: Int64 = 600_000

    /// A record whose event time is more than this ahead of its own clock (its Kafka timestamp,
    /// or its partition's established watermark) is dead-lettered as `future_timestamp` and never
    /// moves a watermark. Default 1 day.
    public var maxFuture: Int64 = 86_400_000

    public init(maxOutOfOrderness: Int64 = 30_000, idleTimeout: Int64 = 60_000, allowedLateness: Int64 = 600_000,
                maxFuture: Int64 = 86_400_000) {
        self.maxOutOfOrderness = maxOutOfOrderness
        self.idleTimeout = idleTimeout
        self.allowedLateness = allowedLateness
        self.maxFuture = maxFuture
    }
}

/// Per-partition watermarks with bounded out-of-orderness and idleness, combined as the minimum
/// over active partitions — Flink's `forBoundedOutOfOrderness` + `withIdleness`.
///
/// Processing time is passed in (`now`), never read from a clock here, so replays and tests are
/// deterministic. The combined watermark never goes backwards. When every partition is idle the
/// watermark stays where it is (as in Flink); at the end of a bounded input ``endOfInput()``
/// moves it to the end of time.
public struct WatermarkTracker: Sendable, Equatable {
    /// Watermark before any record: the beginning of time.
    public static let start = EpochMillis.min
    /// Watermark after the end of a bounded input.
    public static let end = EpochMillis.max

    struct Partition: Sendable, Equatable {
        var maxEventTime = EpochMillis.min
        var lastActivity: EpochMillis
    }

    public let settings: EventTimeSettings
    var partitions: [Int: Partition] = [:]
    /// The current combined watermark.
    public internal(set) var current = WatermarkTracker.start

    /// A tracker for `partitions` (each holds the watermark back until it has data or goes idle).
    public init(settings: EventTimeSettings, partitions: some Sequence<Int>, now: EpochMillis) {
        self.settings = settings
        for p in partitions { self.partitions[p] = Partition(lastActivity: now) }
    }

    /// Adds a partition (a rebalance handed it to this worker).
    public mutating func add(partition: Int, now: EpochMillis) {
        if partitions[partition] == nil { partitions[partition] = Partition(lastActivity: now) }
    }

    /// Removes a partition (revoked): it no longer holds the watermark back.
    public mutating func remove(partition: Int) { partitions[partition] = nil }

    /// Every partition counts as active from `now` (processing time restarted elsewhere).
    public mutating func touchAll(now: EpochMillis) {
        for p in partitions.keys { partitions[p]!.lastActivity = now }
    }

    /// Each partition whose idle timeout ran out but whose log, `unread` says, still holds
    /// records not read counts as active at `now`: its silence is the reader's (a broker outage,
    /// a stalled process), not its source's — Flink's pausable idleness clock serves the same
    /// end. `unread` is asked only about those partitions.
    public mutating func holdActive(now: EpochMillis, unread: (Int) -> Bool) {
        for (p, state) in partitions where now - state.lastActivity >= settings.idleTimeout && unread(p) {
            partitions[p]!.lastActivity = now
        }
    }

    /// Whether every partition is idle at `now` (or there is none): the watermark cannot move.
    public func allIdle(now: EpochMillis) -> Bool {
        partitions.values.allSatisfy { now - $0.lastActivity >= settings.idleTimeout }
    }

    /// Notes a record of `partition` at `eventTime` (or a batch's highest), received at
    /// processing time `now`.
    @inline(__always)
    public mutating func observe(partition: Int, eventTime: EpochMillis, now: EpochMillis) {
        var p = partitions[partition] ?? Partition(lastActivity: now)
        if eventTime > p.maxEventTime { p.maxEventTime = eventTime }
        p.lastActivity = now
        partitions[partition] = p
    }

    /// Recomputes the combined watermark at processing time `now`; returns it.
    @discardableResult
    public mutating func advance(now: EpochMillis) -> EpochMillis {
        guard current != Self.end else { return current }
        var low = EpochMillis.max
        var anyActive = false
        for (_, p) in partitions where now - p.lastActivity < settings.idleTimeout {
            anyActive = true
            let w = p.maxEventTime == .min ? EpochMillis.min : p.maxEventTime - settings.maxOutOfOrderness
            if w < low { low = w }
        }
        if anyActive && low > current { current = low }
        return current
    }

    /// The end of a bounded input: the watermark goes to the end of time.
    public mutating func endOfInput() { current = Self.end }

    /// Whether a record at `eventTime` is late: older than watermark − allowed lateness.
    @inline(__always)
    public func isLate(_ eventTime: EpochMillis) -> Bool {
        current != Self.start && eventTime < current &- settings.allowedLateness
    }

    /// Whether `partition` is idle at processing time `now`.
    public func isIdle(partition: Int, now: EpochMillis) -> Bool {
        guard let p = partitions[partition] else { return true }
        return now - p.lastActivity >= settings.idleTimeout
    }
}

import Domain

/// A half-open event-time interval `[start, end)` in UTC milliseconds.
public struct Window: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var start: EpochMillis
    public var end: EpochMillis

    @inlinable public init(start: EpochMillis, end: EpochMillis) { self.start = start; self.end = end }

    @inlinable public func contains(_ t: EpochMillis) -> Bool { t >= start && t < end }

    /// Ordered by end, then start (the order windows fire in).
    @inlinable public static func < (a: Window, b: Window) -> Bool {
        (a.end, a.start) < (b.end, b.start)
    }

    public var description: String { "[\(RFC3339.format(start)), \(RFC3339.format(end)))" }
}

/// How records are grouped into windows (Flink's `WindowAssigner`).
///
/// Tumbling and hopping windows are aligned to local wall-clock time in a timezone: daily
/// windows in Africa/Johannesburg start at 22:00 UTC; hourly windows in Asia/Kathmandu at :15.
/// Sizes are wall-clock durations, so a daily window on a daylight-saving day lasts 23 or 25 h.
public enum WindowSpec: Sendable, Equatable, CustomStringConvertible {
    /// Fixed-size, non-overlapping windows.
    case tumbling(size: Int64)
    /// Fixed-size windows starting every `slide` (a record is in size/slide windows).
    case hopping(size: Int64, slide: Int64)
    /// Per key, records at most `gap` apart share a window (touching windows merge, as in Flink).
    case session(gap: Int64)

    public var description: String {
        switch self {
        case .tumbling(let s): return "tumbling \(DurationText.format(s))"
        case .hopping(let s, let h): return "hopping \(DurationText.format(s)) every \(DurationText.format(h))"
        case .session(let g): return "session gap \(DurationText.format(g))"
        }
    }

    /// Calls `body` with each window of a tumbling or hopping spec that contains `t`, in order.
    /// (Session windows are built by merging; see ``WindowAggregator``.)
    @inline(__always)
    public func forEachWindow(containing t: EpochMillis, zone: inout TenantZone, _ body: (Window) -> Void) {
        switch self {
        case .tumbling(let size):
            body(Self.aligned(t, size: size, zone: &zone))
        case .hopping(let size, let slide):
            // The latest window start at or before t, then step back by `slide` while it covers t.
            let last = Self.alignedStart(t, step: slide, zone: &zone)
            var starts: [EpochMillis] = []
            var local = zone.localMillis(last)
            while true {
                let start = zone.utc(fromLocal: local)
                let end = zone.utc(fromLocal: local + size)
                guard end > t else { break }
                starts.append(start)
                local -= slide
            }
            for start in starts.reversed() {
                body(Window(start: start, end: zone.utc(fromLocal: zone.localMillis(start) + size)))
            }
        case .session(let gap):
            body(Window(start: t, end: t + gap))
        }
    }

    /// The tumbling window of `size` containing `t`, aligned to local time in `zone`.
    @inline(__always)
    static func aligned(_ t: EpochMillis, size: Int64, zone: inout TenantZone) -> Window {
        let off = zone.offsetMillis(at: t)
        let local = t + off
        let startLocal = local - floorDiv(local, size).remainder
        // Fast path: the offset is the same at both ends (no transition inside).
        let start = startLocal - off
        let end = startLocal + size - off
        if zone.offsetMillis(at: start) == off && zone.offsetMillis(at: end - 1) == off {
            return Window(start: start, end: end)
        }
        return Window(start: zone.utc(fromLocal: startLocal), end: zone.utc(fromLocal: startLocal + size))
    }

    @inline(__always)
    static func alignedStart(_ t: EpochMillis, step: Int64, zone: inout TenantZone) -> EpochMillis {
        let local = zone.localMillis(t)
        return zone.utc(fromLocal: local - floorDiv(local, step).remainder)
    }
}

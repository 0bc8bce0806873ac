import Domain

/// An event-time timer for a string key, ordered by (time, key): the heap entry of operators that
/// wake a key when the watermark passes its next held event (order lifecycle, quotas).
struct KeyTimer: Comparable {
    var time: EpochMillis
    var key: String
    static func < (a: KeyTimer, b: KeyTimer) -> Bool { (a.time, a.key) < (b.time, b.key) }
}

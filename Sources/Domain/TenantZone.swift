import Foundation

/// A tenant's IANA timezone with fast UTC-offset lookups and calendar buckets
/// (hour, day, month) aligned to local time, as UTC milliseconds.
///
/// Offsets come from the system tz database through Foundation's `TimeZone`; each lookup is
/// cached for the span between two offset transitions, so bucketing a stream costs a compare
/// per event rather than a tz database call.
public struct TenantZone: Sendable {
    /// The default zone for a tenant that does not name one.
    public static let defaultIdentifier = "Africa/Johannesburg"

    /// The IANA identifier.
    public let identifier: String
    private let zone: TimeZone
    private var cacheFrom: EpochMillis = 1
    private var cacheUntil: EpochMillis = 0
    private var cacheOffset: Int64 = 0

    /// A zone by IANA identifier, or `nil` if the tz database does not know it.
    public init?(identifier: String) {
        guard let tz = TimeZone(identifier: identifier) else { return nil }
        self.identifier = identifier
        self.zone = tz
    }

    /// Africa/Johannesburg (UTC+2, no daylight saving).
    public static var johannesburg: TenantZone { TenantZone(identifier: defaultIdentifier)! }

    /// Offset from UTC in milliseconds at instant `ms`.
    public mutating func offsetMillis(at ms: EpochMillis) -> Int64 {
        if ms >= cacheFrom && ms < cacheUntil { return cacheOffset }
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let off = Int64(zone.secondsFromGMT(for: date)) * 1000
        // Cache the whole span without a transition around `ms`: from a week back (or the
        // last transition, if one lies in that week) to the next transition.
        let weekBack = date.addingTimeInterval(-7 * 86_400)
        let toMs = { (d: Date) in EpochMillis((d.timeIntervalSince1970 * 1000).rounded(.down)) }
        var from = weekBack
        while let t = zone.nextDaylightSavingTimeTransition(after: from), toMs(t) <= ms { from = t }
        cacheFrom = toMs(from)
        cacheUntil = zone.nextDaylightSavingTimeTransition(after: date).map(toMs) ?? (ms + 366 * 86_400_000)
        cacheOffset = off
        return off
    }

    /// Local wall-clock milliseconds (UTC ms + offset) of instant `ms`.
    public mutating func localMillis(_ ms: EpochMillis) -> EpochMillis { ms + offsetMillis(at: ms) }

    /// The UTC instant of local wall-clock time `local` (for DST gaps, the instant after the gap).
    public mutating func utc(fromLocal local: EpochMillis) -> EpochMillis {
        var guess = local - offsetMillis(at: local)
        let o2 = offsetMillis(at: guess)
        guess = local - o2
        return guess
    }

    /// Start (UTC ms) of the local hour containing `ms`.
    public mutating func hourStart(_ ms: EpochMillis) -> EpochMillis {
        let off = offsetMillis(at: ms)
        let local = ms + off
        return local - floorDiv(local, 3_600_000).remainder - off
    }

    /// Start (UTC ms) of the local day containing `ms` (in Africa/Johannesburg: 22:00 UTC).
    public mutating func dayStart(_ ms: EpochMillis) -> EpochMillis {
        let local = localMillis(ms)
        return utc(fromLocal: local - floorDiv(local, 86_400_000).remainder)
    }

    /// Start (UTC ms) of the local calendar month containing `ms`.
    public mutating func monthStart(_ ms: EpochMillis) -> EpochMillis {
        let local = localMillis(ms)
        let c = Civil.civilFromDays(Int(floorDiv(local, 86_400_000).quotient))
        let first = Int64(Civil.daysFromCivil(year: c.year, month: c.month, day: 1)) * 86_400_000
        return utc(fromLocal: first)
    }

    /// Start (UTC ms) of the local calendar month after the one containing `ms`.
    public mutating func nextMonthStart(_ ms: EpochMillis) -> EpochMillis {
        let local = localMillis(ms)
        let c = Civil.civilFromDays(Int(floorDiv(local, 86_400_000).quotient))
        let (y, m) = c.month == 12 ? (c.year + 1, 1) : (c.year, c.month + 1)
        return utc(fromLocal: Int64(Civil.daysFromCivil(year: y, month: m, day: 1)) * 86_400_000)
    }

    /// The local calendar date of instant `ms` (for `date=YYYY-MM-DD` partitions and reports).
    public mutating func localDate(_ ms: EpochMillis) -> Civil.Date {
        Civil.civilFromDays(Int(floorDiv(localMillis(ms), 86_400_000).quotient))
    }
}

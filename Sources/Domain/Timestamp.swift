/// Event time as UTC milliseconds since the Unix epoch.
public typealias EpochMillis = Int64

/// RFC 3339 timestamps: parsing with any offset into UTC milliseconds, and formatting in UTC.
public enum RFC3339 {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into UTC milliseconds.
    ///
    /// `T` may be `t` or a space and `Z` may be `z` (RFC 3339 §5.6 note). Fractions beyond
    /// milliseconds are truncated. A leap second (`:60`) is read as `:59.999`. Returns `nil`
    /// for anything else, including impossible dates such as February 30.
    @inlinable
    public static func parse(ascii p: UnsafeRawBufferPointer) -> EpochMillis? {
        let n = p.count
        guard n >= 20 else { return nil }
        @inline(__always) func d(_ i: Int) -> Int? {
            let c = p[i]
            return (c >= 48 && c <= 57) ? Int(c &- 48) : nil
        }
        @inline(__always) func num(_ i: Int, _ len: Int) -> Int? {
            var v = 0
            for k in i..<(i + len) { guard let x = d(k) else { return nil }; v = v * 10 + x }
            return v
        }
        guard let year = num(0, 4), p[4] == 45, let month = num(5, 2), p[7] == 45,
              let day = num(8, 2) else { return nil }
        let t = p[10]
        guard t == 84 || t == 116 || t == 32 else { return nil }
        guard let hour = num(11, 2), p[13] == 58, let minute = num(14, 2), p[16] == 58,
              var second = num(17, 2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Civil.daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60 else { return nil }
        var i = 19
        var millis = 0
        if i < n, p[i] == 46 {
            i += 1
            var fd = 0
            while i < n, let x = d(i) {
                if fd < 3 { millis = millis * 10 + x }
                fd += 1
                i += 1
            }
            if fd == 0 { return nil }
            if fd == 1 { millis *= 100 } else if fd == 2 { millis *= 10 }
        }
        if second == 60 { second = 59; millis = 999 }
        guard i < n else { return nil }
        var offsetMinutes = 0
        let z = p[i]
        if z == 90 || z == 122 {
            i += 1
        } else if z == 43 || z == 45 {
            guard i + 6 <= n, let oh = num(i + 1, 2), p[i + 3] == 58, let om = num(i + 4, 2),
                  oh <= 23, om <= 59 else { return nil }
            offsetMinutes = (oh * 60 + om) * (z == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == n else { return nil }
        let days = Civil.daysFromCivil(year: year, month: month, day: day)
        let secs = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        let ms = secs * 1000 + Int64(millis)
        // Years 0001–9999 in UTC: what Postgres, Parquet readers and our own formatting take (an
        // offset can push 0001-01-01 or 9999-12-31 across; "0000-…" is refused by Postgres).
        guard ms >= earliest && ms <= latest else { return nil }
        return ms
    }

    /// 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants a timestamp may name.
    public static let earliest: EpochMillis = -62_135_596_800_000
    public static let latest: EpochMillis = 253_402_300_799_999

    /// Parses an RFC 3339 string; see ``parse(ascii:)``.
    public static func parse(_ text: String) -> EpochMillis? {
        var t = text
        return t.withUTF8 { parse(ascii: UnsafeRawBufferPointer($0)) }
    }

    /// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
    public static func format(_ ms: EpochMillis) -> String {
        format(ms, offsetSeconds: 0)
    }

    /// Formats as `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM` at the given UTC offset (`Z` for 0).
    /// Written digit by digit into one buffer: every derived event carries timestamps, and the
    /// string-concatenating version was a tenth of the operators' time.
    public static func format(_ ms: EpochMillis, offsetSeconds: Int) -> String {
        let (c, s, milli) = parts(ms + Int64(offsetSeconds) * 1000)
        guard (0...9999).contains(c.year) else {
            var out = pad(c.year, 4) + "-" + pad(c.month, 2) + "-" + pad(c.day, 2) + "T"
            out += pad(s / 3600, 2) + ":" + pad(s / 60 % 60, 2) + ":" + pad(s % 60, 2) + "." + pad(milli, 3)
            if offsetSeconds == 0 { return out + "Z" }
            let a = abs(offsetSeconds) / 60
            return out + (offsetSeconds < 0 ? "-" : "+") + pad(a / 60, 2) + ":" + pad(a % 60, 2)
        }
        return String(unsafeUninitializedCapacity: offsetSeconds == 0 ? 24 : 29) {
            write(c, secondOfDay: s, milli: milli, offsetSeconds: offsetSeconds, into: $0.baseAddress!)
        }
    }

    /// Appends ``format(_:)``'s bytes to `out` (no `String` in between: JSON output writes
    /// instants straight into its buffer).
    public static func append(_ ms: EpochMillis, to out: inout [UInt8]) {
        let (c, s, milli) = parts(ms)
        guard (0...9999).contains(c.year) else { out.append(contentsOf: format(ms).utf8); return }
        let n = out.count
        out.append(contentsOf: repeatElement(0, count: 24))
        out.withUnsafeMutableBufferPointer { b in
            _ = write(c, secondOfDay: s, milli: milli, offsetSeconds: 0, into: b.baseAddress! + n)
        }
    }

    /// A (local) instant's calendar date, second of the day and millisecond.
    @inline(__always)
    private static func parts(_ ms: EpochMillis) -> (date: Civil.Date, second: Int, milli: Int) {
        let (days, msOfDay) = floorDiv(ms, 86_400_000)
        return (Civil.civilFromDays(Int(days)), Int(msOfDay / 1000), Int(msOfDay % 1000))
    }

    /// The 24 (UTC) or 29 bytes of a four-digit year's timestamp; returns how many.
    @inline(__always)
    private static func write(_ c: Civil.Date, secondOfDay s: Int, milli: Int, offsetSeconds: Int,
                              into b: UnsafeMutablePointer<UInt8>) -> Int {
        // A plain loop: `stride(from:through:by:)` here was not specialised.
        @inline(__always) func put(_ v: Int, _ width: Int, at i: Int) {
            var v = v, k = i + width
            while k > i { k -= 1; b[k] = UInt8(truncatingIfNeeded: 48 + v % 10); v /= 10 }
        }
        put(c.year, 4, at: 0); b[4] = 45; put(c.month, 2, at: 5); b[7] = 45; put(c.day, 2, at: 8); b[10] = 84
        put(s / 3600, 2, at: 11); b[13] = 58; put(s / 60 % 60, 2, at: 14); b[16] = 58; put(s % 60, 2, at: 17)
        b[19] = 46; put(milli, 3, at: 20)
        if offsetSeconds == 0 { b[23] = 90; return 24 }
        let a = abs(offsetSeconds) / 60
        b[23] = offsetSeconds < 0 ? 45 : 43; put(a / 60, 2, at: 24); b[26] = 58; put(a % 60, 2, at: 27)
        return 29
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// Floor division and modulo (the remainder has the divisor's sign).
@inlinable
public func floorDiv(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
    var q = a / b
    var r = a % b
    if r != 0 && ((r < 0) != (b < 0)) { q -= 1; r += b }
    return (q, r)
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's days-from-civil algorithms).
public enum Civil {
    /// A calendar date.
    public struct Date: Hashable, Sendable {
        public var year: Int, month: Int, day: Int
        public init(year: Int, month: Int, day: Int) { self.year = year; self.month = month; self.day = day }
    }

    /// Whether `year` is a leap year.
    @inlinable public static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    /// Number of days in `month` (1–12) of `year`.
    @inlinable public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a civil date.
    @inlinable public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    @inlinable public static func civilFromDays(_ z0: Int) -> Date {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return Date(year: yoe + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }
}

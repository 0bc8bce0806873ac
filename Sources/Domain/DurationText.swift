/// Durations written for people: `500ms`, `20s`, `5m`, `1h`, `1d`, or combinations (`1h30m`).
public enum DurationText {
    /// Parses into milliseconds; nil for anything else (including an empty string).
    public static func parseMillis(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64? = nil
        var chars = Array(text.utf8)[...]
        guard !chars.isEmpty else { return nil }
        while let c = chars.first {
            if c >= 48 && c <= 57 {
                let (m, o1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int64(c - 48))
                if o1 || o2 { return nil }
                number = s
                chars.removeFirst()
                continue
            }
            guard let n = number else { return nil }
            let unit: Int64
            if chars.starts(with: "ms".utf8) { unit = 1; chars.removeFirst(2) }
            else {
                switch c {
                case UInt8(ascii: "s"): unit = 1000
                case UInt8(ascii: "m"): unit = 60_000
                case UInt8(ascii: "h"): unit = 3_600_000
                case UInt8(ascii: "d"): unit = 86_400_000
                default: return nil
                }
                chars.removeFirst()
            }
            let (v, o) = n.multipliedReportingOverflow(by: unit)
            if o { return nil }
            total += v
            number = nil
        }
        return number == nil ? total : (number == 0 ? 0 : nil)
    }

    /// Formats milliseconds compactly (`90000` → `1m30s`).
    public static func format(_ ms: Int64) -> String {
        if ms == 0 { return "0s" }
        var rest = ms
        var out = ""
        for (unit, name) in [(Int64(86_400_000), "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")] where rest >= unit {
            out += "\(rest / unit)\(name)"
            rest %= unit
        }
        return out
    }
}

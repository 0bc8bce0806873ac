import Foundation
import Testing
@testable import Domain
@testable import Ingest

/// The decoder reads compact JSON with plain ASCII keys and strings on an inlined fast path and
/// everything else on the general one: whitespace between tokens and escaped keys must decode to
/// the very same events, and a rejection to the same reason.
@Suite struct DecoderPathsTests {
    static let records = Samples.generatedAndValid(seed: 41, tenants: 4, ordersPerDay: 12)

    /// Whitespace after every structural character outside strings (a different mix each time).
    static func spaced(_ r: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = [], inString = false, escaped = false
        let ws = Array(" \n\t\r".utf8)
        for c in r {
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { out.append(rng.pick(ws)) }
            out.append(c)
            if c == UInt8(ascii: "\"") { inString = true; continue }
            if "{[,:".utf8.contains(c) { for _ in 0..<rng.int(1...3) { out.append(rng.pick(ws)) } }
        }
        return out
    }

    /// Every string that follows `{` or `,` (the keys, and array elements) with its first
    /// character written as a `\u00XX` escape.
    static func escapedKeys(_ r: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], inString = false, escaped = false, previous: UInt8 = 0
        var k = 0
        while k < r.count {
            let c = r[k]
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                k += 1
                continue
            }
            out.append(c)
            if c == UInt8(ascii: "\"") {
                inString = true
                if previous == UInt8(ascii: "{") || previous == UInt8(ascii: ","), k + 1 < r.count,
                   r[k + 1] >= 0x20, r[k + 1] < 0x80, r[k + 1] != UInt8(ascii: "\""), r[k + 1] != UInt8(ascii: "\\") {
                    out.append(contentsOf: Array(String(format: "\\u%04x", r[k + 1]).utf8))
                    k += 2
                    previous = c
                    continue
                }
            }
            previous = c
            k += 1
        }
        return out
    }

    static func summary(_ r: Result<Event, Rejection>) -> String {
        switch r {
        case .success(let e):
            return "\(e.eventID) \(e.type) \(e.minorVersion) \(e.time) \(e.tenantID) \(String(describing: e.correlationID)) "
                + "\(String(describing: e.causationID)) \(String(reflecting: e.actor)) \(String(reflecting: e.payload))"
        case .failure(let j): return "rejected \(j.reason)"
        }
    }

    @Test func whitespaceAndEscapedKeysDecodeToTheSameEvents() {
        let seed: UInt64 = 20261202
        var rng = SplitMix64(seed: seed)
        let decoder = EventDecoder()
        var accepted = 0, escapedDiffer = 0
        for r in Self.records {
            let compact = Self.summary(decoder.decode(r))
            if compact.hasPrefix("rejected") { continue }
            accepted += 1
            let s = Self.spaced(r, &rng)
            #expect(Self.summary(decoder.decode(s)) == compact, "seed \(seed): \(String(decoding: s, as: UTF8.self))")
            let e = Self.escapedKeys(r)
            if e != r { escapedDiffer += 1 }
            #expect(Self.summary(decoder.decode(e)) == compact, "seed \(seed): \(String(decoding: e, as: UTF8.self))")
        }
        #expect(accepted > 1000 && escapedDiffer == accepted, "\(accepted) accepted, \(escapedDiffer) escaped")
    }

    /// Keys and strings that the fast path must hand to the general one, at the end of the input
    /// too (where fewer than eight bytes remain).
    @Test func rejectionsAndOddKeysNearTheEnd() {
        let decoder = EventDecoder()
        let base = Samples.envelope("order.confirmed", #"{"order_id":"o-1","vendor_id":"v-1"}"#)
        let body = String(base.dropLast())
        #expect(Self.summary(decoder.decode(body + #","é":1}"#)) == Self.summary(decoder.decode(base)))
        #expect(Self.summary(decoder.decode(body + #","a\u0062":1}"#)) == Self.summary(decoder.decode(base)))
        #expect(Self.summary(decoder.decode(body + #","x" :1}"#)) == Self.summary(decoder.decode(base)))
        #expect(Self.summary(decoder.decode(body + ",\"x\u{01}\":1}")) == "rejected invalidJSON")
        #expect(Self.summary(decoder.decode(body + #","x":1,}"#)) == "rejected invalidJSON")
        #expect(Self.summary(decoder.decode(body + #" "x":1}"#)) == "rejected invalidJSON")
        #expect(Self.summary(decoder.decode(body + #","x"}"#)) == "rejected invalidJSON")
        #expect(Self.summary(decoder.decode(body + #","x"#)) == "rejected invalidJSON")
        #expect(Self.summary(decoder.decode(Array((body + ",\"x").utf8) + [0xFF] + Array("\":1}".utf8))) == "rejected invalidUTF8")
    }
}

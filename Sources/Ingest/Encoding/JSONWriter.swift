import Domain

/// Builds compact JSON text into a byte buffer, in the field order the caller writes.
/// Used by the generator and by derived-event output; deterministic byte for byte.
public struct JSONWriter {
    /// The bytes written so far.
    public var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func key(_ k: String) {
        separate()
        appendString(k)
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func appendString(_ s: String) { Self.appendEscaped(s, to: &bytes) }

    /// `s` as a JSON string literal appended to `out` — the one JSON string escaper (derived
    /// events, result rows and the generator all use it). Runs of bytes that need no escape are
    /// copied whole.
    public static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        out.append(34)
        appendEscapedContent(s, to: &out)
        out.append(34)
    }

    /// Bytes of JSON text written by hand (keys and punctuation), appended as they are.
    @inline(__always)
    public static func appendLiteral(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// `prefix` + `s` as one JSON string literal (`prefix`: plain text that needs no escape), e.g.
    /// a result row's `"data.<field>"` key without building the joined string.
    public static func appendEscaped(_ s: String, after prefix: StaticString, to out: inout [UInt8]) {
        out.append(34)
        appendLiteral(prefix, to: &out)
        appendEscapedContent(s, to: &out)
        out.append(34)
    }

    private static func appendEscapedContent(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { b in
            var start = 0
            for i in 0..<b.count {
                let c = b[i]
                if c >= 0x20 && c != 34 && c != 92 { continue }
                if i > start { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i])) }
                switch c {
                case 34: out.append(92); out.append(34)
                case 92: out.append(92); out.append(92)
                case 0x0A: out.append(92); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(92); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(92); out.append(UInt8(ascii: "t"))
                default:
                    let hex: StaticString = "0123456789abcdef"
                    out.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48])
                    out.append(hex.utf8Start[Int(c >> 4)])
                    out.append(hex.utf8Start[Int(c & 15)])
                }
                start = i + 1
            }
            if start < b.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start...])) }
        }
    }

    /// `{` — as a top-level value or an array element.
    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    /// `"k":{`
    public mutating func beginObject(_ k: String) { key(k); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    /// `}`
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma.removeLast() }
    /// `"k":[`
    public mutating func beginArray(_ k: String) { key(k); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    /// `]`
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma.removeLast() }

    /// `"k":"v"`
    public mutating func field(_ k: String, _ v: String) { key(k); appendString(v) }
    /// `"k":"v"`, or nothing when `v` is nil.
    public mutating func field(_ k: String, _ v: String?) { if let v { field(k, v) } }
    /// `"k":123`
    public mutating func field(_ k: String, _ v: Int64) { key(k); bytes.append(contentsOf: String(v).utf8) }
    /// `"k":1.5` (shortest round-tripping form).
    public mutating func field(_ k: String, _ v: Double) { key(k); bytes.append(contentsOf: v.description.utf8) }
    /// `"k":true`
    public mutating func field(_ k: String, _ v: Bool) { key(k); bytes.append(contentsOf: (v ? "true" : "false").utf8) }
    /// `"k":null`
    public mutating func null(_ k: String) { key(k); bytes.append(contentsOf: "null".utf8) }

    /// A field whose value is JSON text already (e.g. an object taken from a webhook).
    public mutating func raw(_ k: String, json: [UInt8]) { key(k); bytes.append(contentsOf: json) }
    /// `"k":"249.90"` or `"k":249.9` — money as a string or as a number.
    public mutating func money(_ k: String, _ m: Money, asString: Bool) {
        if asString { field(k, m.description); return }
        key(k)
        var s = m.description
        while s.hasSuffix("0") && s.contains(".") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        bytes.append(contentsOf: s.utf8)
    }
}

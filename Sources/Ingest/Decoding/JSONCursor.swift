import Domain
#if canImport(Glibc)
import Glibc
#endif

// Why our own JSON reader: Foundation's JSONDecoder builds a tree of boxed values and
// allocates per key; the pipeline decodes each record once, straight from the Kafka/file
// bytes into typed values, validating UTF-8 and JSON syntax on the way (see BENCHMARKS.md for
// the ratio). No Swift package in the machine's list offers a pull parser over raw bytes.

/// The JSON type of the value at the cursor.
@usableFromInline
enum JSONKind: Sendable {
    case string, number, object, array, bool, null

    var name: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .object: return "an object"
        case .array: return "an array"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// A span of the input: `start..<end` byte offsets.
@usableFromInline
struct Span: Sendable {
    var start: Int
    var end: Int
    var count: Int { end - start }
}

/// The bytes of a string value: a span of the input when it has no escapes, else decoded.
@usableFromInline
struct StringToken {
    /// The literal's bytes between the quotes, escapes still in.
    var span: Span
    /// Whether the literal holds escapes (then its value is decoded on demand).
    var escaped: Bool
    /// Whether every byte of the value is ASCII (then characters = bytes).
    var ascii: Bool
}

/// A JSON number's text and shape.
@usableFromInline
struct NumberToken {
    var span: Span
    var negative: Bool
    var hasFraction: Bool
    var hasExponent: Bool
}

/// A pull reader over one JSON text in memory: validates syntax and UTF-8 as it goes and hands
/// out spans of the input, so values are materialised only when a caller wants them.
@usableFromInline
struct JSONCursor {
    let base: UnsafePointer<UInt8>
    let end: Int
    var i: Int

    /// Maximum nesting of skipped values; deeper input is rejected instead of exhausting the stack.
    static let maxDepth = 128

    init(base: UnsafePointer<UInt8>, start: Int = 0, end: Int) {
        self.base = base
        self.i = start
        self.end = end
    }

    // MARK: errors

    func syntax(_ what: String) -> Rejection {
        Rejection(.invalidJSON, "\(what) at byte \(i)")
    }

    // MARK: scanning

    @inline(__always)
    mutating func skipWS() {
        if i < end && base[i] > 0x20 { return } // compact JSON: nothing to skip
        while i < end {
            let c = base[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
        }
    }

    /// The kind of the value starting at the cursor (after whitespace).
    @inline(__always)
    mutating func peekKind() throws(Rejection) -> JSONKind {
        skipWS()
        guard i < end else { throw syntax("unexpected end of input") }
        switch base[i] {
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default:
            if base[i] >= 0x80 { _ = try? Self.validateUTF8Sequence(base, &i, end); throw syntax("unexpected character") }
            throw syntax("unexpected character '\(Character(Unicode.Scalar(base[i])))'")
        }
    }

    @inline(__always)
    mutating func expect(_ c: UInt8, _ what: StaticString) throws(Rejection) {
        skipWS()
        guard i < end, base[i] == c else { throw syntax("expected \(what)") }
        i += 1
    }

    /// Validates one multi-byte UTF-8 sequence whose lead byte is at `i` (≥ 0x80); advances past it.
    @inline(__always)
    static func validateUTF8Sequence(_ base: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int) throws(Rejection) {
        let c = base[i]
        var need: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: throw Rejection(.invalidUTF8, "invalid UTF-8 lead byte 0x\(String(c, radix: 16)) at byte \(i)")
        }
        guard i + need < end else { throw Rejection(.invalidUTF8, "truncated UTF-8 sequence at byte \(i)") }
        let b1 = base[i + 1]
        guard b1 >= lo && b1 <= hi else { throw Rejection(.invalidUTF8, "invalid UTF-8 sequence at byte \(i)") }
        var k = 2
        while k <= need {
            guard base[i + k] & 0xC0 == 0x80 else { throw Rejection(.invalidUTF8, "invalid UTF-8 sequence at byte \(i)") }
            k += 1
        }
        i += need + 1
    }

    /// Eight bytes at a time from `i`: the offset of the first quote, backslash, control or
    /// non-ASCII byte (the lowest flagged byte of these bit tricks is always exact), or of the
    /// first of the input's last 0–7 bytes, which the caller looks at one by one. Pointers, not
    /// offsets, so the loop carries no overflow checks (a third of the instructions it had).
    @inline(__always)
    static func skipPlain(_ base: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        var p = base + i
        let last = base + end
        while last - p >= 8 {
            let x = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
            let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
            let q = x ^ (ones &* 0x22), bs = x ^ (ones &* 0x5C)
            let special = (((q &- ones) & ~q) | ((bs &- ones) & ~bs) | (x &- ones &* 0x20) | x) & highs
            if special != 0 { return p - base &+ (special.trailingZeroBitCount &>> 3) }
            p += 8
        }
        return p - base
    }

    /// The literal whose opening quote is at `q` when it is plain ASCII without escapes (the
    /// usual case, read inline in the callers); nil for anything the general path must read.
    @inline(__always)
    func plainString(at q: Int) -> StringToken? {
        let start = q &+ 1
        let k = Self.skipPlain(base, start, end)
        guard k < end && base[k] == UInt8(ascii: "\"") else { return nil }
        return StringToken(span: Span(start: start, end: k), escaped: false, ascii: true)
    }

    /// Reads a string literal (cursor at its opening quote).
    @inline(__always)
    mutating func readString() throws(Rejection) -> StringToken {
        if let t = plainString(at: i) {
            i = t.span.end &+ 1
            return t
        }
        return try readStringInGeneral()
    }

    /// ``readString()`` for any literal: escapes, non-ASCII, errors.
    @inline(never)
    mutating func readStringInGeneral() throws(Rejection) -> StringToken {
        i += 1 // opening quote
        let start = i
        var ascii = true
        while true {
            i = Self.skipPlain(base, i, end)
            guard i < end else { break }
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                let tok = StringToken(span: Span(start: start, end: i), escaped: false, ascii: ascii)
                i += 1
                return tok
            }
            if c == UInt8(ascii: "\\") { i = start; return try readEscapedString(into: nil) }
            if c < 0x20 { throw syntax("control character in string") }
            if c >= 0x80 { ascii = false; try Self.validateUTF8Sequence(base, &i, end) } else { i += 1 }
        }
        throw syntax("unterminated string")
    }

    /// Slow path of ``readString()`` for literals with escapes; cursor just after the quote.
    /// Validates the literal; appends its decoded bytes to `out` when given.
    mutating func readEscapedString(into out: UnsafeMutablePointer<[UInt8]>?) throws(Rejection) -> StringToken {
        let start = i
        var ascii = true
        while i < end {
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                let tok = StringToken(span: Span(start: start, end: i), escaped: true, ascii: ascii)
                i += 1
                return tok
            }
            if c < 0x20 { throw syntax("control character in string") }
            if c >= 0x80 {
                let s = i
                ascii = false
                try Self.validateUTF8Sequence(base, &i, end)
                out?.pointee.append(contentsOf: UnsafeBufferPointer(start: base + s, count: i - s))
                continue
            }
            if c != UInt8(ascii: "\\") { out?.pointee.append(c); i += 1; continue }
            i += 1
            guard i < end else { break }
            let e = base[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out?.pointee.append(0x22)
            case UInt8(ascii: "\\"): out?.pointee.append(0x5C)
            case UInt8(ascii: "/"): out?.pointee.append(0x2F)
            case UInt8(ascii: "b"): out?.pointee.append(0x08)
            case UInt8(ascii: "f"): out?.pointee.append(0x0C)
            case UInt8(ascii: "n"): out?.pointee.append(0x0A)
            case UInt8(ascii: "r"): out?.pointee.append(0x0D)
            case UInt8(ascii: "t"): out?.pointee.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try readHex4()
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    guard i + 1 < end, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u") else {
                        throw Rejection(.invalidUTF8, "lone surrogate escape at byte \(i)")
                    }
                    i += 2
                    let low = try readHex4()
                    guard low >= 0xDC00 && low <= 0xDFFF else { throw Rejection(.invalidUTF8, "lone surrogate escape at byte \(i)") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                    throw Rejection(.invalidUTF8, "lone surrogate escape at byte \(i)")
                }
                if scalar == 0 {
                    // Valid JSON, but Postgres text cannot hold U+0000: refused here, for every
                    // string of the record (CONTRACT §1), before any of it is stored.
                    throw Rejection(.invalidValue, "a string holds U+0000 (\\u0000) at byte \(i - 6), which text columns cannot store")
                }
                if scalar >= 0x80 { ascii = false }
                out?.pointee.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                throw syntax("invalid escape")
            }
        }
        throw syntax("unterminated string")
    }

    mutating func readHex4() throws(Rejection) -> UInt32 {
        guard i + 4 <= end else { throw syntax("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - 48)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - 87)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - 55)
            default: throw syntax("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Reads a number literal per the JSON grammar (cursor at its first character).
    @inline(__always)
    mutating func readNumber() throws(Rejection) -> NumberToken {
        let start = i
        var neg = false
        if base[i] == UInt8(ascii: "-") { neg = true; i += 1 }
        guard i < end else { throw syntax("truncated number") }
        if base[i] == UInt8(ascii: "0") {
            i += 1
        } else if base[i] >= 0x31 && base[i] <= 0x39 {
            i += 1
            while i < end, base[i] >= 0x30, base[i] <= 0x39 { i += 1 }
        } else {
            throw syntax("invalid number")
        }
        var frac = false, exp = false
        if i < end, base[i] == UInt8(ascii: ".") {
            frac = true
            i += 1
            let d = i
            while i < end, base[i] >= 0x30, base[i] <= 0x39 { i += 1 }
            if i == d { throw syntax("invalid number") }
        }
        if i < end, base[i] | 0x20 == UInt8(ascii: "e") {
            exp = true
            i += 1
            if i < end, base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-") { i += 1 }
            let d = i
            while i < end, base[i] >= 0x30, base[i] <= 0x39 { i += 1 }
            if i == d { throw syntax("invalid number") }
        }
        return NumberToken(span: Span(start: start, end: i), negative: neg, hasFraction: frac, hasExponent: exp)
    }

    @inline(__always)
    mutating func readLiteral(_ word: StaticString) throws(Rejection) {
        let n = word.utf8CodeUnitCount
        guard i + n <= end, memcmp(base + i, word.utf8Start, n) == 0 else { throw syntax("invalid literal") }
        i += n
    }

    /// Reads `true` or `false`.
    mutating func readBool() throws(Rejection) -> Bool {
        if base[i] == UInt8(ascii: "t") { try readLiteral("true"); return true }
        try readLiteral("false")
        return false
    }

    /// Skips one value of any kind, validating it.
    mutating func skipValue(depth: Int = 0) throws(Rejection) {
        switch try peekKind() {
        case .string: _ = try readString()
        case .number: _ = try readNumber()
        case .bool: _ = try readBool()
        case .null: try readLiteral("null")
        case .object:
            guard depth < Self.maxDepth else { throw syntax("nesting deeper than \(Self.maxDepth)") }
            i += 1
            var first = true
            while try nextKey(&first) != nil { try skipValue(depth: depth + 1) }
        case .array:
            guard depth < Self.maxDepth else { throw syntax("nesting deeper than \(Self.maxDepth)") }
            i += 1
            var first = true
            while try nextElement(&first) { try skipValue(depth: depth + 1) }
        }
    }

    /// Advances to the next member of an object whose `{` was consumed; returns its key, or
    /// `nil` after the closing `}`. The cursor is left at the member's value.
    @inline(__always)
    mutating func nextKey(_ first: inout Bool) throws(Rejection) -> StringToken? {
        // Compact JSON, the usual case, inline in the callers: `,"key":` (`"key":` for the first
        // member) with a key of plain ASCII, or `}`. Anything else — whitespace, escapes, other
        // bytes — takes the general path, which validates and words the errors.
        var j = i
        if j < end {
            let c = base[j]
            if c == UInt8(ascii: "}") { i = j &+ 1; return nil }
            if !first && c == UInt8(ascii: ",") { j &+= 1 }
            if (first || j > i) && j < end && base[j] == UInt8(ascii: "\""), let key = plainString(at: j),
               key.span.end &+ 1 < end, base[key.span.end &+ 1] == UInt8(ascii: ":") {
                first = false
                i = key.span.end &+ 2
                skipWS()
                return key
            }
        }
        return try nextKeyInGeneral(&first)
    }

    /// ``nextKey(_:)`` for any input: whitespace, escapes, errors.
    @inline(never)
    mutating func nextKeyInGeneral(_ first: inout Bool) throws(Rejection) -> StringToken? {
        skipWS()
        guard i < end else { throw syntax("unterminated object") }
        if base[i] == UInt8(ascii: "}") { i += 1; return nil }
        if !first {
            guard base[i] == UInt8(ascii: ",") else { throw syntax("expected ',' or '}'") }
            i += 1
            skipWS()
            guard i < end else { throw syntax("unterminated object") }
        }
        guard base[i] == UInt8(ascii: "\"") else { throw syntax("expected a key") }
        first = false
        let key = try readString()
        try expect(UInt8(ascii: ":"), "':'")
        skipWS()
        return key
    }

    /// Advances to the next element of an array whose `[` was consumed; `false` after `]`.
    @inline(__always)
    mutating func nextElement(_ first: inout Bool) throws(Rejection) -> Bool {
        skipWS()
        guard i < end else { throw syntax("unterminated array") }
        if base[i] == UInt8(ascii: "]") { i += 1; return false }
        if !first {
            guard base[i] == UInt8(ascii: ",") else { throw syntax("expected ',' or ']'") }
            i += 1
            skipWS()
        }
        first = false
        return true
    }

    // MARK: tokens to values

    /// Whether a key token equals `name`.
    @inline(__always)
    func key(_ k: StringToken, is name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        if k.escaped {
            let u = unescaped(k)
            return u.count == n && u.withUnsafeBufferPointer { memcmp($0.baseAddress!, name.utf8Start, n) == 0 }
        }
        return k.span.count == n && Self.equal(base + k.span.start, name.utf8Start, n)
    }

    /// `memcmp(a, b, n) == 0` without the call for the short names of the catalog: two
    /// overlapping loads of 8 (or 4) bytes from each side.
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        if n >= 8 {
            if n > 16 { return memcmp(a, b, n) == 0 }
            return ra.loadUnaligned(as: UInt64.self) == rb.loadUnaligned(as: UInt64.self)
                && ra.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == rb.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        }
        if n >= 4 {
            return ra.loadUnaligned(as: UInt32.self) == rb.loadUnaligned(as: UInt32.self)
                && ra.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self) == rb.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
        }
        var k = 0
        while k < n { if a[k] != b[k] { return false }; k += 1 }
        return true
    }

    /// The decoded bytes of a literal with escapes (validated when it was read).
    func unescaped(_ t: StringToken) -> [UInt8] {
        var c = JSONCursor(base: base, start: t.span.start, end: end)
        var out: [UInt8] = []
        out.reserveCapacity(t.span.count)
        _ = try? c.readEscapedString(into: &out)
        return out
    }

    /// The bytes of a string token.
    @inline(__always)
    func withBytes<R>(_ t: StringToken, _ body: (UnsafeRawBufferPointer) throws(Rejection) -> R) throws(Rejection) -> R {
        if t.escaped {
            let u = unescaped(t)
            var result: Result<R, Rejection>!
            u.withUnsafeBytes { b in
                do throws(Rejection) { result = .success(try body(b)) } catch { result = .failure(error) }
            }
            return try result.get()
        }
        return try body(UnsafeRawBufferPointer(start: base + t.span.start, count: t.span.count))
    }

    /// A string token as a Swift `String` (already validated UTF-8).
    @inline(__always)
    func string(_ t: StringToken) -> String {
        if t.escaped { return String(decoding: unescaped(t), as: UTF8.self) }
        let src = base + t.span.start
        let n = t.span.count
        return String(unsafeUninitializedCapacity: n) { buf in
            buf.baseAddress!.update(from: src, count: n)
            return n
        }
    }

    /// The raw bytes of a span.
    @inline(__always)
    func bytes(_ s: Span) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + s.start, count: s.count)
    }
}

import Domain
#if canImport(Glibc)
import Glibc
#endif

/// Reads typed field values at a ``JSONCursor`` and words the rejection for a wrong one, naming
/// the field by its path (`data.items[2].quantity`). Paths are built only on the error path.
@usableFromInline
struct FieldReader {
    var cur: JSONCursor
    /// The object being read, e.g. `data` or `data.items`.
    var prefix: StaticString = ""
    /// The array index within `prefix`, when reading an array element.
    var index: Int? = nil

    init(_ cur: JSONCursor) { self.cur = cur }

    func path(_ name: StaticString) -> String {
        var p = "\(prefix)"
        if let index { p += "[\(index)]" }
        if !p.isEmpty { p += "." }
        return p + "\(name)"
    }

    func wrongType(_ name: StaticString, _ expected: String, _ got: JSONKind) -> Rejection {
        Rejection(.wrongType, "\(path(name)) must be \(expected), got \(got.name)")
    }

    func missing(_ name: StaticString) -> Rejection {
        Rejection(.missingField, "\(path(name)) is required")
    }

    /// Consumes a `null` and returns true, or returns false leaving any other value.
    @inline(__always)
    mutating func takeNull() throws(Rejection) -> Bool {
        if try cur.peekKind() == .null { try cur.readLiteral("null"); return true }
        return false
    }

    @inline(__always)
    mutating func stringToken(_ name: StaticString) throws(Rejection) -> StringToken {
        let k = try cur.peekKind()
        guard k == .string else { throw wrongType(name, "a string", k) }
        return try cur.readString()
    }

    /// Any string.
    @inline(__always)
    mutating func text(_ name: StaticString) throws(Rejection) -> String {
        cur.string(try stringToken(name))
    }

    /// An identifier: a string of 1–128 characters.
    @inline(__always)
    mutating func id(_ name: StaticString) throws(Rejection) -> String {
        let t = try stringToken(name)
        let n = t.ascii ? t.span.count : try cur.withBytes(t) { (b: UnsafeRawBufferPointer) throws(Rejection) -> Int in
            var n = 0
            for c in b where c & 0xC0 != 0x80 { n += 1 }
            return n
        }
        guard n >= 1 && n <= 128 else {
            throw Rejection(.outOfRange, "\(path(name)) must be 1–128 characters, got \(n)")
        }
        return cur.string(t)
    }

    /// An optional identifier (absent or null → nil).
    @inline(__always)
    mutating func optionalID(_ name: StaticString) throws(Rejection) -> String? {
        try takeNull() ? nil : try id(name)
    }

    /// An optional string (null → nil).
    @inline(__always)
    mutating func optionalText(_ name: StaticString) throws(Rejection) -> String? {
        try takeNull() ? nil : try text(name)
    }

    /// A value of a closed set, given as a string.
    @inline(__always)
    mutating func oneOf<E>(_ name: StaticString, _ table: ByteTable<E>) throws(Rejection) -> E {
        let t = try stringToken(name)
        let found = try cur.withBytes(t) { (b: UnsafeRawBufferPointer) throws(Rejection) -> E? in table.match(b) }
        guard let found else {
            throw Rejection(.invalidValue, "\(path(name)) must be one of \(table.names), got \"\(cur.string(t))\"")
        }
        return found
    }

    /// Money: a JSON number or string with at most two decimals, never negative.
    @inline(__always)
    mutating func money(_ name: StaticString) throws(Rejection) -> Money {
        let k = try cur.peekKind()
        let result: Result<Money, Money.ParseError>
        let shown: String
        switch k {
        case .number:
            let n = try cur.readNumber()
            result = Money.parse(ascii: cur.bytes(n.span))
            if case .success(let m) = result { return m }
            shown = String(decoding: cur.bytes(n.span), as: UTF8.self)
        case .string:
            let t = try cur.readString()
            result = try cur.withBytes(t) { (b: UnsafeRawBufferPointer) throws(Rejection) -> Result<Money, Money.ParseError> in
                Money.parse(ascii: b)
            }
            if case .success(let m) = result { return m }
            shown = "\"\(cur.string(t))\""
        default:
            throw wrongType(name, "a number or a decimal string", k)
        }
        guard case .failure(let e) = result else { fatalError("unreachable") }
        let why: String
        switch e {
        case .negative: why = "must not be negative"
        case .tooManyDecimals: why = "has more than 2 decimals"
        case .notANumber: why = "is not a plain decimal amount"
        case .tooLarge: why = "is too large"
        }
        throw Rejection(.invalidMoney, "\(path(name)) \(why): \(shown)")
    }

    /// An integer (no fraction or exponent) within `range`.
    @inline(__always)
    mutating func integer(_ name: StaticString, _ range: ClosedRange<Int64>) throws(Rejection) -> Int64 {
        let k = try cur.peekKind()
        guard k == .number else { throw wrongType(name, "an integer", k) }
        let n = try cur.readNumber()
        guard !n.hasFraction && !n.hasExponent else { throw wrongType(name, "an integer", .number) }
        let b = cur.bytes(n.span)
        var v: Int64 = 0
        var overflow = false
        for c in b where c != UInt8(ascii: "-") {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(c - 48))
            overflow = overflow || o1 || o2
            v = s
        }
        if n.negative { v = 0 &- v } // -(2^63) wraps to itself; `overflow` already says so
        guard !overflow, range.contains(v) else {
            throw Rejection(.outOfRange, "\(path(name)) must be between \(range.lowerBound) and \(range.upperBound), got \(String(decoding: b, as: UTF8.self))")
        }
        return v
    }

    /// A finite number.
    @inline(__always)
    mutating func number(_ name: StaticString) throws(Rejection) -> Double {
        let k = try cur.peekKind()
        guard k == .number else { throw wrongType(name, "a number", k) }
        let n = try cur.readNumber()
        let v = FieldReader.parseDouble(cur.bytes(n.span), n)
        guard v.isFinite else { throw Rejection(.outOfRange, "\(path(name)) is out of range") }
        return v
    }

    /// An optional number (null → nil).
    @inline(__always)
    mutating func optionalNumber(_ name: StaticString) throws(Rejection) -> Double? {
        try takeNull() ? nil : try number(name)
    }

    /// An RFC 3339 timestamp, as UTC milliseconds.
    @inline(__always)
    mutating func timestamp(_ name: StaticString) throws(Rejection) -> EpochMillis {
        let t = try stringToken(name)
        let ms = try cur.withBytes(t) { (b: UnsafeRawBufferPointer) throws(Rejection) -> EpochMillis? in RFC3339.parse(ascii: b) }
        guard let ms else {
            throw Rejection(.invalidTimestamp, "\(path(name)) is not an RFC 3339 timestamp: \"\(cur.string(t))\"")
        }
        return ms
    }

    /// A `{lat, lng}` object with valid WGS84 coordinates.
    mutating func point(_ name: StaticString) throws(Rejection) -> GeoPoint {
        let k = try cur.peekKind()
        guard k == .object else { throw wrongType(name, "an object {lat, lng}", k) }
        cur.i += 1
        var first = true
        var lat: Double?, lng: Double?
        while let key = try cur.nextKey(&first) {
            if cur.key(key, is: "lat") { lat = try number(name) }
            else if cur.key(key, is: "lng") { lng = try number(name) }
            else { try cur.skipValue() }
        }
        guard let lat, let lng else { throw Rejection(.missingField, "\(path(name)) needs lat and lng") }
        let p = GeoPoint(lat: lat, lng: lng)
        guard p.isValid else {
            throw Rejection(.invalidCoordinates, "\(path(name)) (\(lat), \(lng)) is outside ±90/±180")
        }
        return p
    }

    /// Enters an object value (`{` consumed) or throws `wrong_type`.
    mutating func enterObject(_ name: StaticString) throws(Rejection) {
        let k = try cur.peekKind()
        guard k == .object else { throw wrongType(name, "an object", k) }
        cur.i += 1
    }

    // MARK: doubles

    static let exactPowers: [Double] = (0...22).map { e in
        var v = 1.0
        for _ in 0..<e { v *= 10 }
        return v
    }

    /// Parses a validated JSON number: exact fast path (Clinger) for ≤ 15 significant digits and
    /// small exponents, `strtod` (correctly rounded in glibc) otherwise.
    static func parseDouble(_ b: UnsafeRawBufferPointer, _ n: NumberToken) -> Double {
        if !n.hasExponent {
            var mant: UInt64 = 0
            var digits = 0
            var fracDigits = 0
            var inFrac = false
            var ok = true
            for c in b {
                if c == UInt8(ascii: "-") { continue }
                if c == UInt8(ascii: ".") { inFrac = true; continue }
                if digits == 0 && c == 48 && !inFrac { continue }
                mant = mant &* 10 &+ UInt64(c - 48)
                digits += 1
                if inFrac { fracDigits += 1 }
                if digits > 15 { ok = false; break }
            }
            if ok && fracDigits <= 22 {
                let v = Double(mant) / exactPowers[fracDigits]
                return n.negative ? -v : v
            }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: b.count + 1) { buf in
            for (k, c) in b.enumerated() { buf[k] = CChar(bitPattern: c) }
            buf[b.count] = 0
            return strtod(buf.baseAddress!, nil)
        }
    }
}

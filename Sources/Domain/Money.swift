/// An exact amount of money in integer cents (ZAR unless stated otherwise).
///
/// Money never passes through a binary floating point: it is parsed digit by digit from its
/// decimal text (`249.9`, `"249.90"`) into cents.
public struct Money: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The amount in cents.
    public var cents: Int64

    /// An amount of `cents` cents.
    @inlinable public init(cents: Int64) { self.cents = cents }

    /// Zero cents.
    public static let zero = Money(cents: 0)

    @inlinable public static func < (a: Money, b: Money) -> Bool { a.cents < b.cents }
    @inlinable public static func + (a: Money, b: Money) -> Money { Money(cents: a.cents &+ b.cents) }
    @inlinable public static func - (a: Money, b: Money) -> Money { Money(cents: a.cents &- b.cents) }

    /// Why a text is not a valid amount.
    public enum ParseError: Error, Equatable, Sendable {
        /// Empty, a sign, an exponent, or any character that is not a digit or one dot.
        case notANumber
        /// More than two digits after the decimal point.
        case tooManyDecimals
        /// A minus sign: amounts are never negative.
        case negative
        /// Over ``Money/maxCents`` (R 999,999,999.99): no order or payment is this big, and the
        /// bound keeps every sum of them (rollups, settlements) far from Int64's limit — it takes
        /// over 92 million such amounts in one bucket to reach it.
        case tooLarge
    }

    /// The largest amount a record may state: R 999,999,999.99.
    public static let maxCents: Int64 = 99_999_999_999

    /// Parses a plain decimal text (`"249"`, `"249.9"`, `"249.90"`) into cents.
    ///
    /// Accepted: digits, optionally one dot followed by at most two digits. Rejected: a minus
    /// sign (``ParseError/negative``), a third decimal (``ParseError/tooManyDecimals``, even a
    /// trailing zero: `249.900` states a precision money does not have), exponents, `+`,
    /// leading/trailing spaces. Leading zeros are accepted (`007.5`).
    @inlinable
    public static func parse(ascii p: UnsafeRawBufferPointer) -> Result<Money, ParseError> {
        let n = p.count
        if n == 0 { return .failure(.notANumber) }
        var i = 0
        if p[0] == UInt8(ascii: "-") { return .failure(.negative) }
        var whole: Int64 = 0
        var digits = 0
        while i < n, p[i] >= 48, p[i] <= 57 {
            if digits >= 15 { return .failure(.tooLarge) }
            whole = whole &* 10 &+ Int64(p[i] &- 48)
            digits += 1
            i += 1
        }
        var frac: Int64 = 0
        var fracDigits = 0
        if i < n, p[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, p[i] >= 48, p[i] <= 57 {
                fracDigits += 1
                if fracDigits > 2 { return .failure(.tooManyDecimals) }
                frac = frac &* 10 &+ Int64(p[i] &- 48)
                i += 1
            }
            if fracDigits == 0 { return .failure(.notANumber) }
        }
        if i != n || digits == 0 { return .failure(.notANumber) }
        if fracDigits == 1 { frac &*= 10 }
        let cents = whole &* 100 &+ frac
        if cents > maxCents { return .failure(.tooLarge) }
        return .success(Money(cents: cents))
    }

    /// Parses a decimal string such as `"249.90"`; see ``parse(ascii:)``.
    public static func parse(_ text: String) -> Result<Money, ParseError> {
        var t = text
        return t.withUTF8 { parse(ascii: UnsafeRawBufferPointer($0)) }
    }

    /// `"249.90"`: rand with exactly two decimals.
    public var description: String {
        let sign = cents < 0 ? "-" : ""
        let m = cents.magnitude
        let frac = m % 100
        return "\(sign)\(m / 100).\(frac < 10 ? "0" : "")\(frac)"
    }
}

/// A string key for the hash tables on the per-event path: hashed once through the seeded fast
/// mixer (``SeenKeys/fingerprint(_:)``), then one word into Swift's `Hasher`. `String` keys hash
/// every byte with SipHash on each lookup — measured at ~15 % of all operators' time — while the
/// hasher's own per-process seed still keeps the table's layout unpredictable.
public struct FastKey: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let text: String
    @usableFromInline let hash: UInt64

    @inlinable public init(_ text: String) {
        self.text = text
        hash = SeenKeys.fingerprint(text)
    }

    public init(stringLiteral text: String) { self.init(text) }

    @inlinable public func hash(into h: inout Hasher) { h.combine(hash) }
    @inlinable public static func == (a: FastKey, b: FastKey) -> Bool { a.hash == b.hash && a.text == b.text }
    public static func < (a: FastKey, b: FastKey) -> Bool { a.text < b.text }
    public var description: String { text }
}

/// A string key for the hash tables on the per-event path: hashed once through the seeded fast
/// mixer (``hash(_:)``, also dedupe's), then one word into Swift's `Hasher`. `String` keys hash
/// every byte with SipHash on each lookup — measured at ~15 % of all operators' time — while the
/// hasher's own per-process seed still keeps the table's layout unpredictable.
public struct FastKey: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let text: String
    @usableFromInline let digest: UInt64

    /// Seeds the mixer per process: table layouts differ from run to run.
    private static let seed = UInt64.random(in: 1...UInt64.max)

    /// Hash of a string: 8 bytes at a time through a multiply–xorshift mixer, never SipHash.
    @inline(__always)
    public static func hash(_ key: String) -> UInt64 {
        if let h = key.utf8.withContiguousStorageIfAvailable({ hash(bytes: $0) }) { return h }
        var k = key
        return k.withUTF8 { hash(bytes: $0) }
    }

    @inline(__always)
    private static func hash(bytes b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h = seed ^ (UInt64(b.count) &* 0x9E37_79B9_7F4A_7C15)
        let raw = UnsafeRawBufferPointer(b)
        var i = 0
        while i + 8 <= raw.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < raw.count { tail |= UInt64(raw[i]) << shift; shift += 8; i += 1 }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }

    @inlinable public init(_ text: String) {
        self.text = text
        digest = Self.hash(text)
    }

    public init(stringLiteral text: String) { self.init(text) }

    @inlinable public func hash(into h: inout Hasher) { h.combine(digest) }
    @inlinable public static func == (a: FastKey, b: FastKey) -> Bool { a.digest == b.digest && a.text == b.text }
    public static func < (a: FastKey, b: FastKey) -> Bool { a.text < b.text }
    public var description: String { text }
}

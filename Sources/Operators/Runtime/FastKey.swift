/// A string key for the hash tables on the per-event path: hashed once through the seeded fast
/// mixer (``hash(_:)``, also dedupe's), then mixed with each table's own seed
/// (``_rawHashValue(seed:)``). `String` keys hash every byte with SipHash on each lookup —
/// measured at ~15 % of all operators' time. Both seeds are random per process (a table's is
/// derived from the standard library's per-process seed), so table layouts stay unpredictable.
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
    private static func hash(bytes b: UnsafeBufferPointer<UInt8>) -> UInt64 { hash(bytes: UnsafeRawBufferPointer(b)) }

    /// ``hash(_:)`` of bytes that are not a `String` (a Parquet dictionary's values).
    @inline(__always)
    public static func hash(bytes raw: UnsafeRawBufferPointer) -> UInt64 {
        let n = raw.count
        var h = seed ^ (UInt64(n) &* 0x9E37_79B9_7F4A_7C15)
        @inline(__always) func word(_ i: Int) -> UInt64 { raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
        @inline(__always) func half(_ i: Int) -> UInt64 { UInt64(raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)) }
        // The last bytes are read as one word that overlaps the ones before it (the length is
        // already in `h`, so this is unambiguous): no byte-by-byte tail loop.
        let tail: UInt64
        if n >= 8 {
            var i = 0
            while i + 8 < n {
                h = (h ^ word(i)) &* 0xBF58_476D_1CE4_E5B9
                h ^= h >> 31
                i += 8
            }
            tail = word(n - 8)
        } else if n >= 4 {
            tail = half(0) | half(n - 4) << 32
        } else if n > 0 {
            tail = UInt64(raw[0]) | UInt64(raw[n / 2]) << 8 | UInt64(raw[n - 1]) << 16
        } else {
            tail = 0
        }
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

    /// The key `scope/id` (a tenant and an id within it), its text written into one buffer:
    /// `scope + "/" + id` allocated twice and went through `String`'s generic append, ~700
    /// instructions per key on the per-event path.
    public init(_ scope: String, _ id: String) {
        var scope = scope, id = id
        let n = scope.utf8.count + 1 + id.utf8.count
        let text = scope.withUTF8 { s in
            id.withUTF8 { i in
                String(unsafeUninitializedCapacity: n) { b in
                    _ = b.initialize(fromContentsOf: s)
                    b[s.count] = UInt8(ascii: "/")
                    _ = UnsafeMutableBufferPointer(rebasing: b[(s.count + 1)...]).initialize(fromContentsOf: i)
                    return n
                }
            }
        }
        self.init(text)
    }

    @inlinable public func hash(into h: inout Hasher) { h.combine(digest) }
    /// What `Dictionary` and `Set` call for a bucket (the entry point `Hasher` sits behind): the
    /// digest mixed with the table's own seed in three instructions instead of SipHash's seed and
    /// finalisation rounds (~40 % of a lookup here). Tables seed per instance, so copying one
    /// table into another does not cluster.
    @inlinable public func _rawHashValue(seed: Int) -> Int { FastKey.mix(digest, seed) }

    /// A well-mixed word and a table's seed to a bucket hash (low bits depend on all 64).
    @inlinable @inline(__always)
    public static func mix(_ h: UInt64, _ seed: Int) -> Int {
        let m = (h ^ UInt64(UInt(bitPattern: seed))) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: m ^ (m >> 32))
    }
    @inlinable public static func == (a: FastKey, b: FastKey) -> Bool { a.digest == b.digest && a.text == b.text }
    public static func < (a: FastKey, b: FastKey) -> Bool { a.text < b.text }
    public var description: String { text }
}

/// A payload-free enum with a raw value, hashed by its case rather than its raw value:
/// `RawRepresentable`'s default `hash(into:)`, `hashValue` and `_rawHashValue(seed:)` all hash
/// the raw value — for a `String`-backed enum, SipHash over the string on every set or dictionary
/// access (measured on the order state machine's and the quota tracker's sets).
///
/// The case is read as the enum's one byte: a payload-free enum of up to 256 cases is one byte
/// with one bit pattern per case, so equal values hash alike and distinct ones apart whatever
/// numbering the compiler chose.
public protocol HashedByCase: Hashable, RawRepresentable where RawValue: Hashable {}

extension HashedByCase {
    @inlinable var caseByte: UInt8 {
        precondition(MemoryLayout<Self>.size == 1, "HashedByCase is for payload-free enums")
        return withUnsafeBytes(of: self) { $0[0] }
    }

    @inlinable public func hash(into h: inout Hasher) { h.combine(caseByte) }
    @inlinable public var hashValue: Int { _rawHashValue(seed: 0) }
    @inlinable public func _rawHashValue(seed: Int) -> Int {
        var h = Hasher()
        h.combine(seed)
        h.combine(caseByte)
        return h.finalize()
    }
}

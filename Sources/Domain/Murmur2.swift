/// Kafka's default key partitioner: murmur2 of the key bytes, made positive, modulo the
/// partition count (Java clients' `Utils.murmur2`, librdkafka's `murmur2_random`). The in-process
/// exchange uses it too, so a key lands on the same partition in file mode and on Kafka.
public enum KafkaPartitioner {
    /// The 32-bit murmur2 hash Kafka uses (seed 0x9747b28c).
    public static func murmur2(_ data: some Collection<UInt8>) -> Int32 {
        Array(data).withUnsafeBytes { murmur2($0) }
    }

    /// ``murmur2(_:)`` over bytes in place (no copy: one hash per consumed record).
    public static func murmur2(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let length = bytes.count
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let quads = length / 4
        for i in 0..<quads {
            let o = i * 4
            var k = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = quads * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default: break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition of `key` among `count` partitions.
    public static func partition(_ key: String, count: Int) -> Int {
        Int((murmur2(key.utf8) & 0x7fff_ffff) % Int32(count))
    }

    /// The standard (IEEE, zlib) CRC-32 that librdkafka's `consistent` partitioners use.
    public static func crc32(_ data: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}

/// How a producer chose a keyed record's partition (CONTRACT §1; issue 28): Kafka's Java default,
/// murmur2 of the key (librdkafka's `murmur2_random`), or CRC-32 of the key — librdkafka's own
/// default (`consistent_random`), which every client built on it uses unless told otherwise
/// (confluent-kafka for Python, Go and .NET, node-rdkafka, kcat).
public enum Partitioner: String, Sendable, CaseIterable {
    case murmur2, crc32

    /// The partition of a key among `count` partitions.
    @inline(__always)
    public func partition(of key: UnsafeRawBufferPointer, count: Int) -> Int {
        guard count > 1 else { return 0 }
        switch self {
        case .murmur2: return Int((KafkaPartitioner.murmur2(key) & 0x7fff_ffff) % Int32(count))
        case .crc32: return Int(KafkaPartitioner.crc32(key) % UInt32(count))
        }
    }

    /// The partition of a key among `count` partitions.
    public func partition(_ key: String, count: Int) -> Int {
        var k = key
        return k.withUTF8 { partition(of: UnsafeRawBufferPointer($0), count: count) }
    }

    /// The librdkafka producer setting that places keys this way.
    public var librdkafkaSetting: String { self == .murmur2 ? "murmur2_random" : "consistent_random" }
}

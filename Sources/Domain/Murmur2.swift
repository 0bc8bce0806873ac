/// Kafka's default key partitioner: murmur2 of the key bytes, made positive, modulo the
/// partition count (Java clients' `Utils.murmur2`, librdkafka's `murmur2_random`). The in-process
/// exchange uses it too, so a key lands on the same partition in file mode and on Kafka.
public enum KafkaPartitioner {
    /// The 32-bit murmur2 hash Kafka uses (seed 0x9747b28c).
    public static func murmur2(_ data: some Collection<UInt8>) -> Int32 {
        let bytes = Array(data)
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
}

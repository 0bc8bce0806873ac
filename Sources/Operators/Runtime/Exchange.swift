import Domain

/// Repartitions a stream by a different key (Kafka Streams' repartition topic): records go to
/// the partition of their new key under Kafka's murmur2 partitioner, so file mode (in-process,
/// this type) and Kafka mode (an internal topic) put every key in the same place.
///
/// Event time crosses the exchange too: a downstream partition's watermark is the minimum of the
/// watermarks its upstream senders announced (each sender's records arrive in order).
public struct Exchange<Value> {
    public let partitions: Int
    private var buffers: [[Timestamped<Value>]]
    private var senderWatermarks: [Int: EpochMillis] = [:]

    public init(partitions: Int) {
        precondition(partitions > 0)
        self.partitions = partitions
        buffers = Array(repeating: [], count: partitions)
    }

    /// Routes a batch by `key`.
    @inlinable
    public mutating func send(_ batch: some Sequence<Timestamped<Value>>, key: (Value) -> String) {
        for r in batch { append(r, to: KafkaPartitioner.partition(key(r.value), count: partitions)) }
    }

    @usableFromInline
    mutating func append(_ r: Timestamped<Value>, to p: Int) { buffers[p].append(r) }

    /// Notes the watermark of upstream sender `sender` (after the records it sent before).
    public mutating func announce(watermark: EpochMillis, from sender: Int) {
        senderWatermarks[sender] = max(senderWatermarks[sender] ?? WatermarkTracker.start, watermark)
    }

    /// The watermark every downstream partition may assume: the minimum over senders.
    public var watermark: EpochMillis { senderWatermarks.values.min() ?? WatermarkTracker.start }

    /// Takes what has been routed to partition `p` so far, in arrival order.
    public mutating func receive(_ p: Int) -> [Timestamped<Value>] {
        defer { buffers[p].removeAll(keepingCapacity: true) }
        return buffers[p]
    }
}

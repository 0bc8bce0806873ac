import Domain

/// The event time behind a Kafka internal topic (Kafka mode): each upstream task announces the
/// watermark of its sources in marker records to every partition of the topic, after the records
/// it sent before; a downstream task may assume the minimum over upstream tasks (records of one
/// sender arrive in order). A sender whose sources are all idle is left out of the minimum until it
/// announces again, as an idle source partition is (CONTRACT §2). Never goes backwards.
public struct UpstreamWatermarks: Sendable, Equatable {
    public let senders: Int
    var announced: [EpochMillis]
    var idle: [Bool]
    public private(set) var current = WatermarkTracker.start

    public init(senders: Int) {
        self.senders = senders
        announced = Array(repeating: WatermarkTracker.start, count: senders)
        idle = Array(repeating: false, count: senders)
    }

    /// Notes what `sender` announced; returns the new minimum.
    @discardableResult
    public mutating func update(sender: Int, watermark: EpochMillis, idle isIdle: Bool) -> EpochMillis {
        guard sender >= 0, sender < senders else { return current }
        announced[sender] = max(announced[sender], watermark)
        idle[sender] = isIdle && announced[sender] != WatermarkTracker.end
        var low = EpochMillis.max
        var any = false
        for i in 0..<senders where !idle[i] {
            any = true
            low = min(low, announced[i])
        }
        if any, low > current { current = low }
        return current
    }

    /// Whether every sender has announced the end of its input.
    public var allEnded: Bool { announced.allSatisfy { $0 == WatermarkTracker.end } }

    func encode(to w: inout SnapshotWriter) {
        w.write(senders)
        w.write(current)
        for i in 0..<senders { w.write(announced[i]); w.write(idle[i]) }
    }

    init(from r: inout SnapshotReader) throws {
        let n = try r.readInt()
        self.init(senders: n)
        current = try r.readInt64()
        for i in 0..<n { announced[i] = try r.readInt64(); idle[i] = try r.readBool() }
    }
}

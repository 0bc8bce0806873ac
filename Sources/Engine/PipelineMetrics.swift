import Foundation
import Ingest
import Metrics

/// What a running pipeline has done so far, read by other threads (the demo's status line, the
/// metrics): updated by the loop at most every 250 ms.
public final class PipelineProgress: @unchecked Sendable {
    public struct Snapshot: Sendable {
        public var recordsIn = 0
        public var accepted = 0
        public var late = 0
        public var deadLetters = 0
        /// Σ over assigned partitions of (high watermark − next offset to read), inputs only.
        public var lag: Int64 = 0
        public var checkpoints = 0
        public var lastCheckpointID: Int64 = 0
        public var lastCheckpointAt: Date?
        public var lastCheckpointSeconds: Double = 0
        public var stateBytes = 0
        public var tasks = 0
        /// Event-time watermark of the operators (minimum over tasks), UTC ms.
        public var watermark: Int64?
        /// Next offset to read per input topic partition ("topic/partition").
        public var positions: [String: Int64] = [:]
    }

    private let lock = NSLock()
    private var value = Snapshot()

    public var snapshot: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func update(_ body: (inout Snapshot) -> Void) {
        lock.lock()
        body(&value)
        lock.unlock()
    }
}

/// The pipeline's Prometheus series (swift-metrics; a no-op unless a metrics backend is
/// bootstrapped): `wakala_` names, Prometheus conventions.
enum PipelineMetrics {
    static func recordsIn(_ counts: [TopicPartition: Int]) {
        for (tp, n) in counts {
            Counter(label: "wakala_records_in_total", dimensions: [("topic", tp.topic), ("partition", String(tp.partition))]).increment(by: n)
        }
    }

    static func publish(_ p: PipelineProgress.Snapshot, lagByPartition: [TopicPartition: Int64], watermarks: [Int: Int64],
                        operatorCounters: [String: Int]) {
        Gauge(label: "wakala_events_accepted").record(p.accepted)
        Gauge(label: "wakala_dead_letters").record(p.deadLetters)
        Gauge(label: "wakala_late_events").record(p.late)
        Gauge(label: "wakala_consumer_lag_records").record(p.lag)
        for (tp, lag) in lagByPartition {
            Gauge(label: "wakala_consumer_partition_lag_records", dimensions: [("topic", tp.topic), ("partition", String(tp.partition))]).record(lag)
        }
        for (task, wm) in watermarks {
            Gauge(label: "wakala_task_watermark_seconds", dimensions: [("task", String(task))]).record(Double(wm) / 1000)
        }
        Gauge(label: "wakala_checkpoint_state_bytes").record(p.stateBytes)
        Gauge(label: "wakala_tasks").record(p.tasks)
        for (name, v) in operatorCounters {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            Gauge(label: "wakala_operator_counter", dimensions: [("operator", parts[0]), ("counter", parts.count > 1 ? parts[1] : "")]).record(v)
        }
    }

    /// Per type, reason and operator, summed over this process's tasks.
    static func detail(acceptedByType: [String: Int], deadByReason: [String: Int], operatorSeconds: [String: Double], stateBytes: [String: Int]) {
        for (t, n) in acceptedByType { Gauge(label: "wakala_events_accepted_by_type", dimensions: [("type", t)]).record(n) }
        for (r, n) in deadByReason { Gauge(label: "wakala_dead_letters_by_reason", dimensions: [("reason", r)]).record(n) }
        for (o, v) in operatorSeconds { Gauge(label: "wakala_operator_busy_seconds", dimensions: [("operator", o)]).record(v) }
        for (o, v) in stateBytes { Gauge(label: "wakala_operator_state_bytes", dimensions: [("operator", o)]).record(v) }
    }

    static func checkpoint(seconds: Double, stateBytes: Int) {
        Counter(label: "wakala_checkpoints_total").increment()
        Timer(label: "wakala_checkpoint_duration_seconds").recordNanoseconds(Int64(seconds * 1e9))
        Recorder(label: "wakala_checkpoint_state_size_bytes").record(stateBytes)
    }
}

import Domain
import Operators
import Sinks

/// What a pipeline file's `sinks` ask for (CONTRACT §3.3–3.5), applied the same way by every
/// driver (file replays and Kafka runs): which operators' read models Postgres takes, which
/// streams Parquet keeps and in what row groups, which operators' derived events go to which
/// Kafka topics, and where dead letters go. Each sink honours its `inputs`.
public struct SinkPlan: Sendable {
    public var postgresURL: String?
    /// Operators whose read models the postgres sink writes (empty without one).
    public var readModelInputs: Set<String> = []
    public var parquetPath: String?
    /// Streams (the source or operators) whose events the Parquet tables keep.
    public var parquetInputs: Set<String> = []
    public var parquetRowGroupRows = ParquetTables.Appender.defaultRowGroupRows
    /// Whether a task's part files of a day are merged once the day is closed (`compact`).
    public var parquetCompact = true
    /// The pipeline's allowed lateness: a day is closed once the watermark is that far past it.
    public var allowedLateness: Int64
    public var kafkaBrokers: String?
    /// Operator → topic of the derived events a kafka sink takes (its inputs with an `output`).
    public var derivedTopics: [String: String] = [:]
    public var deadLetterTopic = Topics.deadLetters
    /// The dead_letters sink's `path`: where file mode's `dlq/` part files go.
    public var deadLetterPath: String?
    /// `window_aggregate` operators among the postgres and parquet sinks' inputs: their rows go to
    /// a table of their own (`output`, else the operator's name).
    public var windowReadModels: [WindowTable] = []
    public var parquetWindows: [WindowTable] = []

    public init(_ config: PipelineConfig) {
        allowedLateness = config.eventTime.allowedLateness
        func param(_ c: PipelineConfig.Component, _ key: String) -> String? { c.params.first { $0.0 == key }?.1 }
        func windows(_ inputs: [String]) -> [WindowTable] {
            config.operators.filter { $0.type == "window_aggregate" && inputs.contains($0.name) }.map {
                WindowTable(op: $0.name, table: param($0, "output") ?? $0.name, sums: param($0, "sum") != nil)
            }
        }
        for s in config.sinks {
            switch s.type {
            case "postgres":
                postgresURL = param(s, "url")
                readModelInputs.formUnion(s.inputs)
                windowReadModels += windows(s.inputs)
            case "parquet":
                parquetPath = param(s, "path")
                parquetInputs.formUnion(s.inputs)
                parquetWindows += windows(s.inputs)
                if let n = param(s, "row_group_rows").flatMap(Int.init) { parquetRowGroupRows = n }
                if let c = param(s, "compact") { parquetCompact = c == "true" }
            case "kafka":
                kafkaBrokers = param(s, "brokers")
                for op in config.operators where s.inputs.contains(op.name) {
                    derivedTopics[op.name] = param(op, "output") ?? op.name
                }
            case "dead_letters":
                if let t = param(s, "topic") { deadLetterTopic = t }
                deadLetterPath = param(s, "path")
            default:
                break
            }
        }
    }

    /// Sets what the runner keeps for the sinks.
    public func apply(to runner: PipelineRunner) {
        runner.taps = parquetInputs
        runner.readModelInputs = readModelInputs
        runner.enableRetention(for: readModelInputs)
    }

    /// The checkpointer settings of one task (file mode: task 0).
    public func checkpointer(pipeline: String, postgresURL: String, dataDir: String, task: Int) -> Checkpointer.Settings {
        var s = Checkpointer.Settings(pipeline: pipeline, postgresURL: postgresURL, parquetDir: parquetPath ?? dataDir + "/parquet",
                                      dataDir: dataDir)
        s.partition = task
        s.worker = task
        s.parquetRowGroupRows = parquetRowGroupRows
        s.compaction = parquetCompact ? allowedLateness : nil
        s.derivedTopics = derivedTopics
        s.deadLetterTopic = deadLetterTopic
        s.deadLetterDir = deadLetterPath
        s.windowTables = windowReadModels
        s.parquetWindows = parquetWindows
        return s
    }
}

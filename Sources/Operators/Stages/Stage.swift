import Domain
import Ingest

/// A value in an operator's result row.
public enum OutputValue: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case strings([String])
    /// A number given as its exact decimal text (e.g. `2.5`).
    case number(String)
    /// An instant (UTC ms), written as an RFC 3339 UTC string only at the edge (JSON, Postgres
    /// text, a scenario's expectations). ETAs and alert windows are most derived events' fields:
    /// formatting each into a `String` as it was made was a tenth of the operators' instructions.
    case time(EpochMillis)
    case null

    /// Values compare as they are written: an instant equals the RFC 3339 string it writes as.
    public static func == (a: OutputValue, b: OutputValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)), (.number(let x), .number(let y)): return x == y
        case (.int(let x), .int(let y)), (.time(let x), .time(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.strings(let x), .strings(let y)): return x == y
        case (.null, .null): return true
        case (.time(let t), .string(let s)), (.string(let s), .time(let t)): return RFC3339.format(t) == s
        default: return false
        }
    }

    /// As it appears in JSON.
    public var json: String {
        var out: [UInt8] = []
        appendJSON(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON form (strings through the one escaper, ``JSONWriter/appendEscaped(_:to:)``).
    public func appendJSON(to out: inout [UInt8]) {
        switch self {
        case .string(let s): JSONWriter.appendEscaped(s, to: &out)
        case .int(let v): out.append(contentsOf: String(v).utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .strings(let list):
            out.append(UInt8(ascii: "["))
            for (i, s) in list.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.appendEscaped(s, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .number(let text): out.append(contentsOf: text.utf8)
        case .time(let t):
            out.append(UInt8(ascii: "\""))
            RFC3339.append(t, to: &out)
            out.append(UInt8(ascii: "\""))
        case .null: out.append(contentsOf: "null".utf8)
        }
    }

    /// As a scenario file writes it (strings bare).
    public var description: String {
        switch self {
        case .string(let s): return s
        case .time(let t): return RFC3339.format(t)
        case .strings(let l): return "[" + l.joined(separator: ", ") + "]"
        default: return json
        }
    }
}

/// One result row of an operator (a window's aggregate, a derived event's fields), in field order.
public struct OutputRow: Equatable, Sendable {
    public var fields: [(String, OutputValue)]
    public init(_ fields: [(String, OutputValue)]) { self.fields = fields }

    public subscript(name: String) -> OutputValue? { fields.first { $0.0 == name }?.1 }

    /// Compact JSON, fields in order.
    public var json: String {
        var out: [UInt8] = []
        appendJSON(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends ``json``'s bytes to `out` (output files build one buffer of many rows).
    public func appendJSON(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, f) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendEscaped(f.0, to: &out)
            out.append(UInt8(ascii: ":"))
            f.1.appendJSON(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    public static func == (a: OutputRow, b: OutputRow) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// What a stage hands on from one call: events for the stages that read it, rows or derived
/// events for its output.
public struct StageOutput {
    public var events: [Timestamped<Event>] = []
    public var rows: [OutputRow] = []
    public var derived: [DerivedEvent] = []
    public init() {}
}

/// One result of an operator: a row (window aggregates, rollups) or a derived event.
public enum StageResult: Sendable {
    case row(OutputRow)
    case event(DerivedEvent)

    public var row: OutputRow {
        switch self {
        case .row(let r): return r
        case .event(let d): return d.row
        }
    }

    /// ``row``'s JSON appended to `out` (a derived event written without building its row).
    public func appendRowJSON(to out: inout [UInt8]) {
        switch self {
        case .row(let r): r.appendJSON(to: &out)
        case .event(let d): d.appendRowJSON(to: &out)
        }
    }
}

/// One operator of a pipeline, built from its `operators:` entry. The runner calls it once per
/// batch (a dynamic call per batch, never per record); inside, stages run concrete generic code.
public protocol Stage: AnyObject {
    var name: String { get }
    /// Takes a batch of events that are not late.
    func process(_ batch: consuming [Timestamped<Event>], into out: inout StageOutput)
    /// The watermark moved.
    func advance(to watermark: EpochMillis, into out: inout StageOutput)
    /// Counters for the summary and metrics (e.g. duplicates dropped).
    var counters: [(String, Int)] { get }
    func snapshot() throws -> [UInt8]
    func restore(_ bytes: [UInt8]) throws
    /// Derived events of another operator this one reads (a rollup's `statuses`), delivered
    /// right after that operator emitted them.
    func take(_ derived: [DerivedEvent])
    /// Read-model rows (CONTRACT §3.3) of the keys changed since the last call, with their
    /// current values (so writing them twice is harmless).
    func drainReadModel() -> [ReadModelRow]
    /// A sink keeps this operator's read model: state that can no longer change may leave
    /// memory once drained (retention; off for bounded replays, whose output needs it all).
    func enableRetention()
    /// Indices of the batch's events that concern state this operator retired: the runner
    /// dead-letters them as late (`late_event`) before any operator sees them.
    func retiredEvents(in batch: [Timestamped<Event>]) -> [Int]
}

/// One keyed state entry of an incremental checkpoint: the key and its bytes, or nil when the key
/// left the state.
public struct StateEntry: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]?
    public init(key: String, value: [UInt8]?) { self.key = key; self.value = value }
}

/// An operator whose large keyed state is checkpointed incrementally (Flink's incremental
/// checkpoints, Kafka Streams' changelogs): once ``trackEntries()`` is called, ``Stage/snapshot()``
/// leaves those keys out and ``changedEntries()`` gives the keys changed since its last call.
public protocol IncrementalStage: Stage {
    func trackEntries()
    func changedEntries() throws -> [StateEntry]
    /// After ``Stage/restore(_:)``: the entries of the last checkpoint.
    func restoreEntries(_ entries: [StateEntry]) throws
    /// While true, ``Stage/snapshot()`` holds every key (a full snapshot, for comparison).
    func includeEntriesInSnapshot(_ on: Bool)
}

extension Stage {
    public func take(_ derived: [DerivedEvent]) {}
    public func drainReadModel() -> [ReadModelRow] { [] }
    public func enableRetention() {}
    public func retiredEvents(in batch: [Timestamped<Event>]) -> [Int] { [] }
}

/// One row of a Postgres read-model table, fields named as its columns.
public struct ReadModelRow: Equatable, Sendable {
    public var table: String
    public var row: OutputRow
    public init(_ table: String, _ fields: [(String, OutputValue)]) { self.table = table; row = OutputRow(fields) }
    public init(table: String, row: OutputRow) { self.table = table; self.row = row }
}

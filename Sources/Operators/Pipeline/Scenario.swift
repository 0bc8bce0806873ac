import Domain
import Foundation
import Yams

/// A replayed-stream test (like `vector test` for Vector configs): a pipeline file, a small input
/// stream (inline or a file) and the outputs expected, written by hand.
///
/// ```yaml
/// scenario: two orders in one hour
/// pipeline: ../../Pipelines/examples/orders-per-hour.yaml   # relative to this file
/// input:                        # each item an event (a mapping, written out as JSON) or a raw line
///   - {event_id: e1, event_type: order.created, ...}
///   - 'not json at all'
/// # input_file: stream.ndjson   # instead of input
/// expect:
///   orders_hourly:              # an operator's rows, in order; only the fields given are compared
///     - {key: t-1, window_start: "2026-03-01T08:00:00.000Z", count: 2, sum: 5000}
///   dead_letters:
///     - {reason: invalid_json, offset: 2}
///   counters:
///     dedupe.duplicates: 1
/// ```
public struct Scenario {
    public var name: String
    public var file: String
    public var pipeline: String
    public var input: [[UInt8]]
    /// Operator → expected rows (field → text), in order; `dead_letters` included.
    public var expected: [(String, [[(String, String)]])]
    public var counters: [(String, Int)]

    /// Whether a YAML file is a scenario (has a top-level `scenario:` key).
    public static func isScenario(path: String) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let node = try? Yams.compose(yaml: text), let m = node.mapping else { return false }
        return m["scenario"] != nil
    }

    /// Whether a YAML file is a pipeline file (top-level `sources:` or `operators:`), which a
    /// folder of scenarios may hold beside them. Any other YAML file there must be a scenario.
    public static func isPipeline(path: String) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let node = try? Yams.compose(yaml: text), let m = node.mapping else { return false }
        return m["sources"] != nil || m["operators"] != nil
    }

    public static func load(path: String) throws -> Scenario {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        func fail(_ node: Node?, _ message: String) -> ConfigErrors {
            [ConfigError(file: path, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, path: "", message: message)]
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError { throw ConfigErrors([PipelineConfig.yamlError(e, file: path)]) }
        guard let m = root?.mapping else { throw fail(root, "a scenario is a mapping with scenario, pipeline, input and expect") }
        for (k, _) in m where !["scenario", "pipeline", "input", "input_file", "expect"].contains(k.scalar?.string ?? "") {
            throw fail(k, "unknown key '\(k.scalar?.string ?? "?")'; allowed: scenario, pipeline, input, input_file, expect")
        }
        guard let name = m["scenario"]?.scalar?.string else { throw fail(root, "missing key 'scenario' (its name)") }
        guard let pipeline = m["pipeline"]?.scalar?.string else { throw fail(root, "missing key 'pipeline'") }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path }
        var input: [[UInt8]] = []
        if let items = m["input"]?.sequence {
            for item in items {
                if let s = item.scalar, item.mapping == nil { input.append(Array(s.string.utf8)) } else { input.append(Array(json(item).utf8)) }
            }
        } else if let f = m["input_file"]?.scalar?.string {
            let p = resolve(f)
            guard let data = FileManager.default.contents(atPath: p) else { throw fail(m["input_file"], "cannot read \(p)") }
            input = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map { Array($0.utf8) }
        } else {
            throw fail(root, "missing key 'input' (a list of events) or 'input_file'")
        }
        var expected: [(String, [[(String, String)]])] = []
        var counters: [(String, Int)] = []
        guard let expect = m["expect"]?.mapping else { throw fail(root, "missing key 'expect'") }
        for (k, v) in expect {
            let key = k.scalar?.string ?? ""
            if key == "counters" {
                for (ck, cv) in v.mapping ?? [:] {
                    guard let n = cv.scalar.flatMap({ Int($0.string) }) else { throw fail(cv, "a counter is an integer") }
                    counters.append((ck.scalar?.string ?? "", n))
                }
                continue
            }
            guard let rows = v.sequence else { throw fail(v, "expected rows of \(key) are a list of mappings") }
            var list: [[(String, String)]] = []
            for row in rows {
                guard let rm = row.mapping else { throw fail(row, "a row is a mapping of field: value") }
                list.append(rm.map { ($0.key.scalar?.string ?? "", $0.value.scalar?.string ?? "") })
            }
            expected.append((key, list))
        }
        return Scenario(name: name, file: path, pipeline: resolve(pipeline),
                        input: input, expected: expected, counters: counters)
    }

    /// A YAML node as JSON text, keeping key order and the scalars' own text (so `249.9` stays
    /// `249.9` and `"249.90"` stays a string).
    static func json(_ node: Node) -> String {
        switch node {
        case .mapping(let m):
            return "{" + m.map { "\(OutputValue.string($0.key.scalar?.string ?? "").json):\(json($0.value))" }.joined(separator: ",") + "}"
        case .sequence(let s):
            return "[" + s.map(json).joined(separator: ",") + "]"
        case .scalar(let s):
            let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
            if !quoted {
                if s.string == "null" || s.string == "~" { return "null" }
                if s.string == "true" || s.string == "false" { return s.string }
                if Int64(s.string) != nil || (Double(s.string) != nil && s.string.allSatisfy { "0123456789.-eE+".contains($0) }) { return s.string }
            }
            return OutputValue.string(s.string).json
        }
    }

    /// The outcome of running a scenario.
    public struct Outcome {
        public var passed: Bool
        /// A readable diff of what was expected and what came out (empty when passed).
        public var diff: String
    }

    /// Replays the input through the pipeline (one partition, record by record so the watermark
    /// moves after each record as it would for a person reading the file, then the end of input)
    /// and compares.
    public func run() throws -> Outcome {
        let config = try PipelineConfig.load(path: pipeline)
        let runner = try PipelineRunner(config: config, partitions: [0], now: 0)
        // The input's clock from its head, as `replay` takes it from a file's.
        let head = input.prefix(PipelineRunner.clockSampleRecords).flatMap { $0 }
        head.withUnsafeBytes { all in
            var at = 0
            runner.establishClock(partition: 0, sample: input.prefix(PipelineRunner.clockSampleRecords).map { r in
                defer { at += r.count }
                return UnsafeRawBufferPointer(rebasing: all[at..<(at + r.count)])
            })
        }
        var offset: Int64 = 0
        for chunk in stride(from: 0, to: input.count, by: 1) {
            let part = Array(input[chunk..<min(chunk + 1, input.count)])
            var arena: [UInt8] = []
            var spans: [(Range<Int>, Int64)] = []
            for r in part {
                offset += 1
                spans.append((arena.count..<(arena.count + r.count), offset))
                arena += r
            }
            arena.withUnsafeBytes { all in
                runner.process(partition: 0, records: spans.map { (UnsafeRawBufferPointer(rebasing: all[$0.0]), $0.1) }, now: 0)
            }
        }
        runner.finish()

        var diff = ""
        for (op, rows) in expected {
            let actual: [OutputRow]
            if op == "dead_letters" {
                actual = runner.deadLetters.map { d in OutputRow([("reason", .string(d.reason.rawValue)), ("detail", .string(d.detail)),
                                                                   ("offset", .int(d.offset))]) }
            } else {
                guard let got = runner.rows[op] else {
                    diff += "  \(op): no such operator in \(config.file) (operators: \(config.operators.map(\.name).joined(separator: ", ")))\n"
                    continue
                }
                actual = got
            }
            let mismatch = rows.count != actual.count || zip(rows, actual).contains { exp, act in
                exp.contains { f, v in act[f]?.description != v }
            }
            guard mismatch else { continue }
            diff += "  \(op): \(rows.count) row\(rows.count == 1 ? "" : "s") expected, \(actual.count) emitted\n"
            for i in 0..<max(rows.count, actual.count) {
                let e = i < rows.count ? "{" + rows[i].map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}" : nil
                let a = i < actual.count ? actual[i].json : nil
                let same = i < rows.count && i < actual.count && !rows[i].contains { actual[i][$0.0]?.description != $0.1 }
                if same { diff += "      row \(i + 1): \(a!)\n"; continue }
                if let e { diff += "    - row \(i + 1) expected: \(e)\n" }
                if let a { diff += "    + row \(i + 1) emitted:  \(a)\n" }
            }
        }
        let actualCounters = Dictionary(runner.counters, uniquingKeysWith: { $1 })
            .merging(["late": runner.late, "accepted": runner.accepted, "dead_letters": runner.deadLetters.count]) { $1 }
        for (name, n) in counters where actualCounters[name] != n {
            diff += "  counter \(name): expected \(n), got \(actualCounters[name].map(String.init) ?? "nothing (no such counter)")\n"
        }
        return Outcome(passed: diff.isEmpty, diff: diff)
    }
}

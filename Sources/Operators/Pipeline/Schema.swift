import Domain
import Yams

/// A problem in a pipeline file, located by line and column and by the key path inside it.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// e.g. `operators[2].window.size`
    public var path: String
    public var message: String

    public var description: String {
        "\(file):\(line):\(column): \(path.isEmpty ? "" : path + ": ")\(message)"
    }
}

/// The expected shape of a value in a pipeline file (Vector-style: every component's keys are
/// declared, unknown keys and wrong types are errors with the exact place).
indirect enum FieldType: Sendable {
    case string
    case duration
    case integer(ClosedRange<Int>)
    case bool
    case oneOf([String])
    case list(FieldType)
    case object(Schema)
    /// An object whose `type` key picks the schema of the rest.
    case tagged([String: Schema])

    var name: String {
        switch self {
        case .string: return "a string"
        case .duration: return "a duration such as 30s, 10m or 1h"
        case .integer(let r): return "an integer from \(r.lowerBound) to \(r.upperBound)"
        case .bool: return "true or false"
        case .oneOf(let v): return "one of \(v.joined(separator: ", "))"
        case .list(let t): return "a list of \(t.name)"
        case .object, .tagged: return "a mapping"
        }
    }
}

struct Field: Sendable {
    var type: FieldType
    var required: Bool
    var help: String
}

/// The keys of one mapping.
struct Schema: Sendable {
    var fields: [(String, Field)]

    init(_ fields: [(String, Field)]) { self.fields = fields }

    func field(_ key: String) -> Field? { fields.first { $0.0 == key }?.1 }
    var keys: [String] { fields.map(\.0) }
}

func req(_ t: FieldType, _ help: String = "") -> Field { Field(type: t, required: true, help: help) }
func opt(_ t: FieldType, _ help: String = "") -> Field { Field(type: t, required: false, help: help) }

/// Checks a composed YAML node against a schema, collecting every problem.
struct SchemaChecker {
    let file: String
    var errors: [ConfigError] = []

    mutating func fail(_ node: Node?, _ path: String, _ message: String) {
        errors.append(ConfigError(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, path: path, message: message))
    }

    mutating func check(_ node: Node, _ type: FieldType, _ path: String) {
        switch type {
        case .string:
            guard case .scalar = node else { return fail(node, path, "expected \(type.name)") }
        case .duration:
            guard case .scalar(let s) = node, DurationText.parseMillis(s.string) != nil else {
                return fail(node, path, "expected \(type.name), got \(describe(node))")
            }
        case .integer(let range):
            guard case .scalar(let s) = node, let v = Int(s.string), range.contains(v) else {
                return fail(node, path, "expected \(type.name), got \(describe(node))")
            }
        case .bool:
            guard case .scalar(let s) = node, ["true", "false"].contains(s.string) else {
                return fail(node, path, "expected \(type.name), got \(describe(node))")
            }
        case .oneOf(let values):
            guard case .scalar(let s) = node, values.contains(s.string) else {
                let hint = node.scalar.map { Self.suggestion($0.string, values) } ?? ""
                return fail(node, path, "expected \(type.name), got \(describe(node))\(hint)")
            }
        case .list(let element):
            guard case .sequence(let seq) = node else { return fail(node, path, "expected \(type.name)") }
            for (i, n) in seq.enumerated() { check(n, element, "\(path)[\(i)]") }
        case .object(let schema):
            checkMapping(node, schema, path)
        case .tagged(let variants):
            guard case .mapping(let m) = node else { return fail(node, path, "expected a mapping") }
            guard let typeNode = m["type"] else { return fail(node, path, "missing key 'type' (one of \(variants.keys.sorted().joined(separator: ", ")))") }
            guard case .scalar(let t) = typeNode, let schema = variants[t.string] else {
                let hint = typeNode.scalar.map { Self.suggestion($0.string, variants.keys.sorted()) } ?? ""
                return fail(typeNode, join(path, "type"), "unknown type \(describe(typeNode))\(hint); expected one of \(variants.keys.sorted().joined(separator: ", "))")
            }
            checkMapping(node, schema, path)
        }
    }

    mutating func checkMapping(_ node: Node, _ schema: Schema, _ path: String) {
        guard case .mapping(let m) = node else { return fail(node, path, "expected a mapping") }
        var seen = Set<String>()
        for (k, v) in m {
            guard case .scalar(let ks) = k else { fail(k, path, "keys must be strings"); continue }
            let key = ks.string
            guard seen.insert(key).inserted else { fail(k, join(path, key), "duplicate key"); continue }
            guard let f = schema.field(key) else {
                let suggestion = closest(key, schema.keys).map { " (did you mean '\($0)'?)" } ?? ""
                fail(k, join(path, key), "unknown key\(suggestion); allowed: \(schema.keys.joined(separator: ", "))")
                continue
            }
            check(v, f.type, join(path, key))
        }
        for (key, f) in schema.fields where f.required && !seen.contains(key) {
            fail(node, path, "missing key '\(key)'\(f.help.isEmpty ? "" : " (\(f.help))")")
        }
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        default: return "something else"
        }
    }

    func closest(_ key: String, _ keys: [String]) -> String? { Self.closest(key, keys) }

    /// `" (did you mean 'x'?)"` for the candidate nearest to `word`, else "".
    static func suggestion(_ word: String, _ candidates: [String]) -> String {
        closest(word, candidates).map { " (did you mean '\($0)'?)" } ?? ""
    }

    /// The candidate nearest to a misspelt word (edit distance ≤ 2, or ≤ 1 for words of 3
    /// characters or fewer).
    static func closest(_ key: String, _ keys: [String]) -> String? {
        // Optimal string alignment distance: a swap of two neighbours counts as one edit.
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
            for i in 0...a.count { d[i][0] = i }
            for j in 0...b.count { d[0][j] = j }
            for i in stride(from: 1, through: a.count, by: 1) {
                for j in stride(from: 1, through: b.count, by: 1) {
                    let cost = a[i - 1] == b[j - 1] ? 0 : 1
                    d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                    if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
                }
            }
            return d[a.count][b.count]
        }
        let limit = key.count <= 3 ? 1 : 2
        let scored = keys.map { ($0, distance(Array(key), Array($0))) }.filter { $0.1 <= limit && $0.0 != key }
        return scored.min { $0.1 < $1.1 }?.0
    }
}

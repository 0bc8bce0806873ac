import Domain
import Foundation
import Yams

/// A pipeline topology file (`Pipelines/*.yaml`): sources, event-time settings, operators with
/// their parameters, sinks and the checkpoint interval. Loading validates everything and reports
/// each problem with `file:line:column` and the key path.
public struct PipelineConfig: Sendable {
    public struct Source: Sendable {
        public var name: String
        public var type: String
        public var params: [String: String]
        public var topics: [String]
    }

    public struct Component: Sendable {
        public var name: String
        public var type: String
        /// Upstream components (sources or operators) this one reads.
        public var inputs: [String]
        /// Scalar parameters as written (after `${ENV}` substitution), for display and building.
        public var params: [(String, String)]
        /// The window of a `window_aggregate`.
        public var window: WindowSpec?
        public var line: Int
    }

    public var name: String
    public var file: String
    public var sources: [Source]
    public var eventTime: EventTimeSettings
    public var operators: [Component]
    public var sinks: [Component]
    public var checkpointInterval: Int64
    /// A task also checkpoints once it has taken this many records since its last checkpoint
    /// (`checkpoint.max_records`, default 200,000): what waits for a checkpoint in memory (sink
    /// buffers, derived events) stays bounded whatever the input rate.
    public var checkpointMaxRecords = 200_000
    /// `wakala run`: the records all of a process's tasks may hold between their checkpoints
    /// together (`checkpoint.max_process_records`, default 1,000,000). Over it, the task that
    /// holds the most records takes a checkpoint (or pauses while its previous one is written),
    /// so a process's memory does not grow with the number of partitions it is assigned.
    public var checkpointMaxProcessRecords = 1_000_000

    // MARK: schema

    static let windowSchema = FieldType.tagged([
        "tumbling": Schema([("type", req(.string)), ("size", req(.duration))]),
        "hopping": Schema([("type", req(.string)), ("size", req(.duration)), ("slide", req(.duration))]),
        "session": Schema([("type", req(.string)), ("gap", req(.duration))]),
    ])

    static func op(_ extra: [(String, Field)]) -> Schema {
        Schema([("name", req(.string)), ("type", req(.string)), ("input", req(.string, "the source or operator it reads"))] + extra)
    }

    static let eventTypes = FieldType.list(.oneOf(EventType.catalog.map(\.rawValue)))
    static let keyPath = FieldType.oneOf(EventField.allCases.map(\.rawValue))
    static let moneyPath = FieldType.oneOf(MoneyField.allCases.map(\.rawValue))

    static let operatorSchemas: [String: Schema] = [
        "dedupe": op([("key", opt(keyPath, "field path, default event_id")), ("ttl", opt(.duration, "how long a key is remembered, in event time (default 24h)")),
                      ("events", opt(eventTypes, "only these event types (default all)"))]),
        "window_aggregate": op([("key", req(keyPath, "field path such as tenant_id")), ("events", opt(eventTypes, "only these event types (default all)")),
                                ("window", req(windowSchema, "tumbling {size}, hopping {size, slide: divides size} or session {gap}")), ("timezone", opt(.string, "tenant or an IANA zone")),
                                ("sum", opt(moneyPath, "money field path to sum")),
                                ("output", opt(.string, "the table (Postgres) and folder (Parquet) its rows go to when a sink takes it (default: its name)"))]),
        "repartition": op([("key", req(keyPath, "the field whose value is the new key, e.g. data.driver_id")), ("topic", opt(.string, "internal topic in Kafka mode, default <pipeline>-<operator>-repartition")),
                           ("events", opt(eventTypes, "only these event types (default all)")),
                           ("lookup", opt(keyPath, "for events without the key: the field whose latest keyed event gives it")),
                           ("lookup_ttl", opt(.duration, "how long a lookup value is remembered after its last keyed event (default 7d)"))]),
        "order_lifecycle": op([("output", opt(.string, "the Kafka topic of its derived events (a kafka sink)")),
                               ("hold_unknown_orders", opt(.bool, "events of an order not yet created wait for it for the allowed lateness (default true); false: rejected at once")),
                               ("retain_ended", opt(.duration, "how long a completed or cancelled order stays in memory after its last event when a sink keeps the read model (at least the allowed lateness, its default); later events of it are dead-lettered as late"))]),
        "quota": op([("output", opt(.string, "the Kafka topic of its derived events (a kafka sink)")),
                     ("soft_limit_percent", opt(.integer(1...100), "the share of a limit that starts a warning (default 80)"))]),
        "delivery_eta": op([("locations", req(.string, "the stream of driver locations keyed by driver")),
                            ("output", opt(.string, "the Kafka topic of its derived events (a kafka sink)")),
                            ("geofence_m", opt(.integer(1...10_000), "metres from pickup or dropoff that count as arrived (default 50)")),
                            ("deviation_m", opt(.integer(1...100_000), "metres off the pickup→dropoff great circle that count as a route deviation (default 1000)")),
                            ("eta_change_s", opt(.integer(1...86_400), "seconds an ETA must move before a new delivery.eta_updated (default 300)"))]),
        "rollup": op([("granularities", req(.list(.oneOf(["hour", "day"])), "bucket sizes")),
                      ("timezone", opt(.string, "tenant (each tenant's own zone, the default) or an IANA zone")),
                      ("statuses", opt(.string, "an order_lifecycle operator declared above, reading the same input, whose status changes the rollup takes instead of running its own state machine"))]),
    ]

    static let sinkSchemas: [String: Schema] = [
        "postgres": Schema([("name", req(.string)), ("type", req(.string)), ("inputs", req(.list(.string), "the operators whose read models it writes")),
                            ("url", req(.string, "a libpq URL; --postgres or WAKALA_POSTGRES_URL take precedence"))]),
        "parquet": Schema([("name", req(.string)), ("type", req(.string)), ("inputs", req(.list(.string), "the sources, dedupes, repartitions or window_aggregates whose events or rows it writes")),
                           ("path", req(.string, "the folder of the tables")),
                           ("row_group_rows", opt(.integer(1...100_000_000), "rows per Parquet row group (default 20000)")),
                           ("compact", opt(.bool, "merge each task's part files of a day into one once no event can reach that day (default true)"))]),
        "kafka": Schema([("name", req(.string)), ("type", req(.string)), ("inputs", req(.list(.string), "the operators whose derived events it publishes")),
                         ("brokers", req(.string, "bootstrap servers (default: the source's)"))]),
        "dead_letters": Schema([("name", req(.string)), ("type", req(.string)), ("topic", opt(.string, "the Kafka topic (default wakala.dlq)")),
                                ("path", opt(.string, "part files under this folder instead, when outputs go to files"))]),
    ]

    static let maxRecordBytes = ("max_record_bytes", opt(.integer(1_024...(64 << 20)), "records over this many bytes are dead-lettered as too_large (default 1048576)"))

    /// What each sink type takes among its `inputs`: operator types (and `source`, the events
    /// of a source).
    static let sinkTakes: [String: [String]] = [
        "postgres": ["order_lifecycle", "quota", "delivery_eta", "rollup", "window_aggregate"],
        "parquet": ["source", "dedupe", "repartition", "window_aggregate"],
        "kafka": ["order_lifecycle", "quota", "delivery_eta"],
    ]

    static func describe(_ takes: [String]) -> String {
        takes.map { $0 == "source" ? "sources" : $0 + " operators" }.joined(separator: ", ")
    }

    /// Tables of the pipeline itself (read models and bookkeeping), which an operator's rows may
    /// not take the name of.
    public static let reservedTables: Set<String> = [
        "tenants", "orders", "order_status_history", "order_transition_rejections", "deliveries", "tenant_usage",
        "checkpoints", "file_manifest", "schema_migrations", "internal_topic_starts", "kafka_outbox", "kafka_outbox_batches",
        "state_entries", "replay_inputs", "events", "order_facts", "order_items",
    ]

    /// A name an operator's table may have: a plain lower-case identifier, not reserved.
    static func isTableName(_ t: String) -> Bool {
        guard let first = t.utf8.first, t.utf8.count <= 63, !(48...57).contains(first) else { return false }
        return t.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
            && !reservedTables.contains(t) && !t.hasPrefix("rollup_") && !t.hasPrefix("stage_")
    }

    static let sourceSchemas: [String: Schema] = [
        "kafka": Schema([("name", req(.string)), ("type", req(.string)), ("brokers", req(.string, "bootstrap servers; --brokers or WAKALA_KAFKA_BROKERS take precedence")),
                         ("topics", req(.list(.string), "the input topics, all with the same partition count")),
                         ("group", opt(.string, "the consumer group (default: the pipeline's name); --group takes precedence")), maxRecordBytes,
                         ("partitioner", opt(.oneOf(["auto", "murmur2", "crc32"]), "how the producers placed keyed records: murmur2 (Java's default), crc32 (librdkafka's: Python, Go, .NET, kcat) or auto (default: decided from the first keyed records and recorded); every keyed record is checked and a wrong placement reported"))]),
        "file": Schema([("name", req(.string)), ("type", req(.string)), ("path", opt(.string, "replay takes --input instead")),
                        ("topics", opt(.list(.string), "documentation only: the topics the file's records came from")), maxRecordBytes]),
    ]

    static let root = Schema([
        ("pipeline", req(.string, "the pipeline's name")),
        ("sources", req(.list(.tagged(sourceSchemas)), "where events come from (one)")),
        ("event_time", opt(.object(Schema([("max_out_of_orderness", opt(.duration, "how far behind its partition's latest event time an event may arrive; the watermark trails by this (default 30s)")),
                                            ("idle_timeout", opt(.duration, "a partition silent this long at its log's end stops holding the watermark (default 60s)")),
                                            ("allowed_lateness", opt(.duration, "events this far behind the watermark still update their windows; older ones are dead-lettered as late_event (default 10m)")),
                                            ("max_future", opt(.duration, "event times further ahead of the record's clock (Kafka timestamp, or the partition's watermark in a file) are dead-lettered as future_timestamp (default 1d)"))])))),
        ("operators", req(.list(.tagged(operatorSchemas)), "the dataflow, in order")),
        ("sinks", opt(.list(.tagged(sinkSchemas)), "where results go")),
        ("checkpoint", opt(.object(Schema([("interval", req(.duration, "time between checkpoints (default 10s without this mapping)")),
                                           ("max_records", opt(.integer(1...100_000_000), "also checkpoint a task after this many records (default 200000)")),
                                           ("max_process_records", opt(.integer(1...1_000_000_000), "wakala run: checkpoint the fullest task once a process's tasks hold this many records together (default 1000000)"))])))),
    ])

    // MARK: loading

    /// Loads and validates a pipeline file; `environment` fills `${NAME}` and `${NAME:-default}`.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PipelineConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw [ConfigError(file: path, line: 1, column: 1, path: "", message: "cannot read the file")] as ConfigErrors
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path, environment: environment)
    }

    /// Parses and validates pipeline text.
    public static func parse(_ text: String, file: String, environment: [String: String] = [:]) throws -> PipelineConfig {
        let composed: Node?
        do {
            composed = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw [yamlError(e, file: file)] as ConfigErrors
        }
        guard let raw = composed else { throw [ConfigError(file: file, line: 1, column: 1, path: "", message: "the file is empty")] as ConfigErrors }
        var errors: [ConfigError] = []
        let node = substitute(raw, environment, file: file, errors: &errors)
        var checker = SchemaChecker(file: file)
        checker.check(node, .object(root), "")
        errors += checker.errors
        // Names and references are checked too, so one run reports every problem of the file.
        guard node.mapping != nil else { throw ConfigErrors(errors) }
        return try build(node, file: file, prior: errors)
    }

    static func yamlError(_ e: YamlError, file: String) -> ConfigError {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, column: mark.column, path: "", message: "YAML: \(problem)")
        default:
            return ConfigError(file: file, line: 1, column: 1, path: "", message: "YAML: \(e)")
        }
    }

    /// Replaces `${NAME}` / `${NAME:-default}` in every scalar.
    static func substitute(_ node: Node, _ env: [String: String], file: String, errors: inout [ConfigError]) -> Node {
        switch node {
        case .scalar(let s):
            var out = ""
            var rest = Substring(s.string)
            while let r = rest.range(of: "${") {
                out += rest[..<r.lowerBound]
                guard let close = rest[r.upperBound...].firstIndex(of: "}") else { out += rest[r.lowerBound...]; rest = ""; break }
                let expr = rest[r.upperBound..<close]
                let parts = expr.components(separatedBy: ":-")
                let name = parts[0]
                if let v = env[name], !v.isEmpty {
                    out += v
                } else if parts.count > 1 {
                    out += parts[1...].joined(separator: ":-")
                } else {
                    errors.append(ConfigError(file: file, line: s.mark?.line ?? 1, column: s.mark?.column ?? 1, path: "",
                                              message: "environment variable \(name) is not set (write ${\(name):-default} for a default)"))
                }
                rest = rest[rest.index(after: close)...]
            }
            out += rest
            return .scalar(Node.Scalar(out, s.tag, s.style, s.mark))
        case .mapping(let m):
            return .mapping(Node.Mapping(m.map { (substitute($0.key, env, file: file, errors: &errors), substitute($0.value, env, file: file, errors: &errors)) },
                                         m.tag, m.style, m.mark))
        case .sequence(let q):
            return .sequence(Node.Sequence(q.map { substitute($0, env, file: file, errors: &errors) }, q.tag, q.style, q.mark))
        }
    }

    /// Builds the typed config from a node, checking names and references; throws `prior` (the
    /// schema's problems) with its own. Parts the schema refused are skipped, not trusted.
    static func build(_ node: Node, file: String, prior: [ConfigError] = []) throws -> PipelineConfig {
        func str(_ n: Node?) -> String? { n?.scalar?.string }
        func ms(_ n: Node?) -> Int64? { str(n).flatMap(DurationText.parseMillis) }
        func list(_ n: Node?) -> [String] { n?.sequence?.compactMap { $0.scalar?.string } ?? [] }
        guard let m = node.mapping else { throw ConfigErrors(prior) }
        var errors: [ConfigError] = []
        func fail(_ n: Node?, _ path: String, _ msg: String) {
            errors.append(ConfigError(file: file, line: n?.mark?.line ?? 1, column: n?.mark?.column ?? 1, path: path, message: msg))
        }

        var settings = EventTimeSettings()
        if let et = m["event_time"]?.mapping {
            if let v = ms(et["max_out_of_orderness"]) { settings.maxOutOfOrderness = v }
            if let v = ms(et["idle_timeout"]) { settings.idleTimeout = v }
            if let v = ms(et["allowed_lateness"]) { settings.allowedLateness = v }
            if let v = ms(et["max_future"]) { settings.maxFuture = v }
        }

        var names: [String: String] = [:] // name → what it is
        // Every operator's name and line, to tell a forward reference from an unknown name.
        var declared: [String: Int] = [:]
        for o in m["operators"]?.sequence ?? [] {
            if let n = o.mapping?["name"], let name = str(n), declared[name] == nil { declared[name] = n.mark?.line ?? 1 }
        }
        var sources: [Source] = []
        for (i, s) in (m["sources"]?.sequence ?? []).enumerated() {
            guard let sm = s.mapping, let name = str(sm["name"]) else { continue }
            if names[name] != nil { fail(sm["name"], "sources[\(i)].name", "the name '\(name)' is used twice") }
            names[name] = "source"
            var params: [String: String] = [:]
            for (k, v) in sm { if let ks = k.scalar?.string, let vs = v.scalar?.string { params[ks] = vs } }
            sources.append(Source(name: name, type: str(sm["type"]) ?? "", params: params, topics: list(sm["topics"])))
        }

        /// The problem with reading `dep`, which is not declared above: declared below, or unknown.
        func unknown(_ dep: String, operatorsOnly: Bool = false) -> String {
            if let line = declared[dep], names[dep] == nil {
                return "'\(dep)' is declared below (line \(line)): an operator or sink reads only sources and operators declared above it; move it up"
            }
            let candidates = names.filter { !operatorsOnly || $0.value == "operator" }.keys.sorted()
            return "'\(dep)' is not \(operatorsOnly ? "an operator" : "a source or an operator") declared above\(SchemaChecker.suggestion(dep, candidates))"
        }

        func component(_ n: Node, _ path: String, isSink: Bool) -> Component? {
            guard let cm = n.mapping, let name = str(cm["name"]) else { return nil }
            if names[name] != nil { fail(cm["name"], path + ".name", "the name '\(name)' is used twice") }
            var inputs: [(String, Node?)] = []
            if let input = cm["input"], let v = str(input) { inputs.append((v, input)) }
            if let loc = cm["locations"], let v = str(loc) { inputs.append((v, loc)) }
            for x in cm["inputs"]?.sequence ?? [] { if let v = str(x) { inputs.append((v, x)) } }
            for (dep, depNode) in inputs where names[dep] == nil {
                fail(depNode, path, unknown(dep))
            }
            if !isSink { names[name] = "operator" }
            var params: [(String, String)] = []
            for (k, v) in cm {
                guard let key = k.scalar?.string, !["name", "type", "input", "inputs", "locations", "window"].contains(key) else { continue }
                if let s = v.scalar?.string { params.append((key, s)) } else if let seq = v.sequence {
                    params.append((key, seq.compactMap { $0.scalar?.string }.joined(separator: ", ")))
                }
            }
            var window: WindowSpec?
            if let w = cm["window"]?.mapping {
                switch str(w["type"]) {
                case "tumbling": window = ms(w["size"]).map { .tumbling(size: $0) }
                case "hopping":
                    if let size = ms(w["size"]), let slide = ms(w["slide"]) {
                        if slide <= 0 || size <= 0 || size % slide != 0 { fail(w["slide"], path + ".window.slide", "the slide must divide the size") }
                        window = .hopping(size: size, slide: slide)
                    }
                default: window = ms(w["gap"]).map { .session(gap: $0) }
                }
                if case .tumbling(let size) = window, size <= 0 { fail(w["size"], path + ".window.size", "the size must be positive") }
            }
            if let tz = str(cm["timezone"]), tz != "tenant", TenantZone(identifier: tz) == nil {
                fail(cm["timezone"], path + ".timezone", "'\(tz)' is neither 'tenant' nor an IANA timezone")
            }
            return Component(name: name, type: str(cm["type"]) ?? "", inputs: inputs.map(\.0), params: params, window: window,
                             line: n.mark?.line ?? 1)
        }

        var operators: [Component] = []
        for (i, o) in (m["operators"]?.sequence ?? []).enumerated() {
            guard let c = component(o, "operators[\(i)]", isSink: false) else { continue }
            if let from = o.mapping?["statuses"], let target = str(from) {
                let path = "operators[\(i)].statuses"
                if let t = operators.first(where: { $0.name == target }) {
                    if t.type != "order_lifecycle" { fail(from, path, "'\(target)' is a \(t.type) operator, not an order_lifecycle") }
                    else if t.inputs != c.inputs { fail(from, path, "'\(target)' reads \(t.inputs.joined(separator: ", ")), this rollup \(c.inputs.joined(separator: ", ")); they must read the same input") }
                } else {
                    fail(from, path, unknown(target, operatorsOnly: true))
                }
            }
            operators.append(c)
        }
        var sinks: [Component] = []
        for (i, s) in (m["sinks"]?.sequence ?? []).enumerated() { if let c = component(s, "sinks[\(i)]", isSink: true) { sinks.append(c) } }
        // What each sink can take (CONTRACT §3.3–3.5): a declared input that no sink writes is an
        // error here, not a run that commits nothing of it.
        let opType = Dictionary(operators.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        let sourceNames = Set(sources.map(\.name))
        for (i, s) in (m["sinks"]?.sequence ?? []).enumerated() {
            guard let sm = s.mapping, let type = str(sm["type"]), let takes = Self.sinkTakes[type] else { continue }
            for (j, input) in (sm["inputs"]?.sequence ?? []).enumerated() {
                guard let name = str(input) else { continue }
                let kind = sourceNames.contains(name) ? "source" : opType[name]
                guard let kind else { continue } // unknown names are reported above
                guard takes.contains(kind) else {
                    fail(input, "sinks[\(i)].inputs[\(j)]", "'\(name)' is a \(kind == "source" ? "source" : kind + " operator"), which a \(type) sink cannot take; it takes \(Self.describe(takes))")
                    continue
                }
                guard kind == "window_aggregate", let op = operators.first(where: { $0.name == name }) else { continue }
                let table = op.params.first { $0.0 == "output" }?.1 ?? name
                if !Self.isTableName(table) {
                    fail(input, "sinks[\(i)].inputs[\(j)]", "'\(name)' writes its rows to table '\(table)' (its output, else its name), which must be lower-case letters, digits and _ (at most 63, not starting with a digit) and not one of the pipeline's own tables or rollup_*")
                }
            }
        }

        let interval = ms(m["checkpoint"]?.mapping?["interval"]) ?? 10_000
        if interval <= 0 { fail(m["checkpoint"], "checkpoint.interval", "must be positive") }
        // One report of each problem (the schema and these checks may both see one).
        var seen = Set<String>()
        let all = (prior + errors).filter { seen.insert($0.description).inserted }
        guard all.isEmpty else { throw ConfigErrors(all) }
        var config = PipelineConfig(name: str(m["pipeline"])!, file: file, sources: sources, eventTime: settings,
                                    operators: operators, sinks: sinks, checkpointInterval: interval)
        if let n = str(m["checkpoint"]?.mapping?["max_records"]).flatMap(Int.init) { config.checkpointMaxRecords = n }
        if let n = str(m["checkpoint"]?.mapping?["max_process_records"]).flatMap(Int.init) { config.checkpointMaxProcessRecords = n }
        return config
    }
}

/// Every problem found in a pipeline file.
public struct ConfigErrors: Error, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var errors: [ConfigError]
    public init(_ errors: [ConfigError]) { self.errors = errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) } }
    public init(arrayLiteral elements: ConfigError...) { self.init(elements) }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

import Domain

/// Draws a pipeline's topology, like Kafka Streams' `Topology.describe()`: sources, operators
/// and sinks with the edges between them, as an indented text tree, Graphviz DOT or Mermaid.
public enum PipelineGraph {
    /// One line of detail per node (type and the parameters that matter).
    static func detail(_ c: PipelineConfig.Component) -> String {
        var parts = [c.type]
        if let w = c.window { parts.append(w.description) }
        for (k, v) in c.params where !["output"].contains(k) { parts.append("\(k)=\(v)") }
        if let out = c.params.first(where: { $0.0 == "output" })?.1 { parts.append("→ topic \(out)") }
        return parts.joined(separator: ", ")
    }

    /// The downstream names of each node.
    static func edges(_ p: PipelineConfig) -> [String: [String]] {
        var down: [String: [String]] = [:]
        for c in p.operators + p.sinks { for i in c.inputs { down[i, default: []].append(c.name) } }
        return down
    }

    /// An indented tree from each source; a node reached twice is drawn once and referred to.
    public static func text(_ p: PipelineConfig) -> String {
        let down = edges(p)
        let byName = Dictionary(uniqueKeysWithValues: (p.operators + p.sinks).map { ($0.name, $0) })
        let sinkNames = Set(p.sinks.map(\.name))
        var out = "Pipeline \(p.name) (\(p.file))\n"
        out += "  event time: out-of-orderness \(DurationText.format(p.eventTime.maxOutOfOrderness)), idle after \(DurationText.format(p.eventTime.idleTimeout)), allowed lateness \(DurationText.format(p.eventTime.allowedLateness)); checkpoint every \(DurationText.format(p.checkpointInterval))\n"
        var drawn = Set<String>()
        func draw(_ name: String, _ indent: String) {
            for child in down[name] ?? [] {
                let c = byName[child]!
                let kind = sinkNames.contains(child) ? "Sink" : "Processor"
                if drawn.contains(child) {
                    out += "\(indent)└─ \(kind): \(child) (see above)\n"
                    continue
                }
                drawn.insert(child)
                let others = c.inputs.filter { $0 != name }
                let also = others.isEmpty ? "" : " (also reads \(others.joined(separator: ", ")))"
                out += "\(indent)└─ \(kind): \(child) [\(detail(c))]\(also)\n"
                draw(child, indent + "   ")
            }
        }
        for s in p.sources {
            let topics = s.topics.isEmpty ? "" : " topics: \(s.topics.joined(separator: ", "))"
            out += "Source: \(s.name) [\(s.type)]\(topics)\n"
            draw(s.name, "   ")
        }
        for d in p.sinks where d.inputs.isEmpty { out += "Sink: \(d.name) [\(detail(d))]\n" }
        return out
    }

    static func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }

    /// Graphviz DOT.
    public static func dot(_ p: PipelineConfig) -> String {
        var out = "digraph \(quoted(p.name)) {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n"
        for s in p.sources { out += "  \(quoted(s.name)) [shape=cylinder, label=\(quoted("\(s.name)\n\(s.type)"))];\n" }
        for o in p.operators { out += "  \(quoted(o.name)) [shape=box, label=\(quoted("\(o.name)\n\(detail(o))"))];\n" }
        for d in p.sinks { out += "  \(quoted(d.name)) [shape=folder, label=\(quoted("\(d.name)\n\(d.type)"))];\n" }
        for c in p.operators + p.sinks { for i in c.inputs { out += "  \(quoted(i)) -> \(quoted(c.name));\n" } }
        return out + "}\n"
    }

    /// A Mermaid flowchart.
    public static func mermaid(_ p: PipelineConfig) -> String {
        var ids: [String: String] = [:]
        func id(_ name: String) -> String {
            if let i = ids[name] { return i }
            let i = "n\(ids.count)"
            ids[name] = i
            return i
        }
        func label(_ s: String) -> String { s.replacingOccurrences(of: "\"", with: "'") }
        var out = "flowchart LR\n"
        for s in p.sources { out += "  \(id(s.name))[(\"\(label(s.name))<br/>\(s.type)\")]\n" }
        for o in p.operators { out += "  \(id(o.name))[\"\(label(o.name))<br/>\(label(detail(o)))\"]\n" }
        for d in p.sinks { out += "  \(id(d.name))[/\"\(label(d.name))<br/>\(d.type)\"/]\n" }
        for c in p.operators + p.sinks { for i in c.inputs { out += "  \(id(i)) --> \(id(c.name))\n" } }
        return out
    }
}

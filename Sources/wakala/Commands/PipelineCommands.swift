import ArgumentParser
import Foundation
import Operators

/// Loads a pipeline file or exits 2 with every problem on its own `file:line:column` line.
func loadPipeline(_ path: String) throws -> PipelineConfig {
    do {
        return try PipelineConfig.load(path: path)
    } catch let e as ConfigErrors {
        for err in e.errors { note(err.description) }
        note("\(path): \(e.errors.count) problem\(e.errors.count == 1 ? "" : "s")")
        throw ExitCode(2)
    }
}

/// `wakala validate FILE`: checks a pipeline file.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a pipeline file: keys, types, durations, names and references (exit 2 with file:line:column on a problem).")

    @Argument(help: "A pipeline file, e.g. Pipelines/analytics.yaml.") var file: String

    func run() throws {
        let p = try loadPipeline(file)
        print("\(file): ok — pipeline \(p.name): \(p.sources.count) source(s), \(p.operators.count) operator(s), \(p.sinks.count) sink(s)")
    }
}

/// `wakala graph FILE`: draws the topology.
struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Draw a pipeline's topology as text, Graphviz DOT or Mermaid.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, dot, mermaid }

    @Argument(help: "A pipeline file.") var file: String
    @Option(help: "text, dot or mermaid.") var format: Format = .text

    func run() throws {
        let p = try loadPipeline(file)
        switch format {
        case .text: print(PipelineGraph.text(p), terminator: "")
        case .dot: print(PipelineGraph.dot(p), terminator: "")
        case .mermaid: print(PipelineGraph.mermaid(p), terminator: "")
        }
    }
}

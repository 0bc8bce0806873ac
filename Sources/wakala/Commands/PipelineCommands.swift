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

/// `wakala validate FILE…`: checks pipeline files.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check pipeline files: keys, types, durations, names and references — every problem of each file in one run, in file order, as file:line:column (exit 2 when any file has one).")

    @Argument(help: "Pipeline files, e.g. Pipelines/analytics.yaml; - reads one from standard input.") var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give one or more pipeline files (- for standard input)") }
    }

    func run() throws {
        var failed = false
        for file in files {
            do {
                let p: PipelineConfig
                if file == "-" {
                    let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                    p = try PipelineConfig.parse(text, file: "<stdin>", environment: ProcessInfo.processInfo.environment)
                } else {
                    p = try PipelineConfig.load(path: file)
                }
                print("\(file == "-" ? "<stdin>" : file): ok — pipeline \(p.name): \(p.sources.count) source(s), \(p.operators.count) operator(s), \(p.sinks.count) sink(s)")
            } catch let e as ConfigErrors {
                for err in e.errors { note(err.description) }
                note("\(file == "-" ? "<stdin>" : file): \(e.errors.count) problem\(e.errors.count == 1 ? "" : "s")")
                failed = true
            }
        }
        if failed { throw ExitCode(2) }
    }
}

/// `wakala docs`: the pipeline-file reference.
struct Docs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the pipeline-file reference (Markdown): every source, operator and sink type with its outputs, an example and its keys (docs/PIPELINES.md is this output).")

    func run() throws { print(PipelineReference.markdown(), terminator: "") }
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

import ArgumentParser
import Foundation

/// `wakala bench` (`wakala bench all`): every benchmark, each in its own process (one after the
/// other, so none disturbs another), then one table of each figure beside its peer's. Each
/// benchmark's full output goes to standard error as it runs.
struct BenchSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "all",
        abstract: "Run every benchmark and print one table of each figure beside its peer's (--quick: smaller inputs, under 5 minutes).")

    @Flag(help: "Smaller inputs and fewer rounds: the whole suite in under 5 minutes (figures noisier).") var quick = false
    @Flag(help: "Also the heavy ones: bench serve (builds a 1 M-order tenant) and Flink in bench pipeline.") var full = false

    /// A benchmark: its arguments (quick / normal) and which of its output lines are its figures.
    struct Item {
        var name: String
        var quick: [String]
        var normal: [String]
        var figures: [String] // line prefixes
    }

    static let items: [Item] = [
        Item(name: "decode", quick: ["decode", "--rounds", "3"], normal: ["decode"],
             figures: ["EventDecoder", "JSONDecoder", "ratio"]),
        Item(name: "operators", quick: ["operators", "--rounds", "1"], normal: ["operators"],
             figures: ["all operators", "decode + validate alone", "ratio"]),
        Item(name: "pipeline", quick: ["pipeline", "--days", "3"], normal: ["pipeline"],
             figures: ["wakala replay", "DuckDB", "Flink", "ratios", "        replay"]),
        Item(name: "checkpoint", quick: ["checkpoint", "--orders", "200000", "--changed", "2000"], normal: ["checkpoint"],
             figures: ["live keyed", "last checkpoint", "restore"]),
        Item(name: "parquet", quick: ["parquet", "--rounds", "1"], normal: ["parquet"], figures: ["ours", "pyarrow", "ratio"]),
        Item(name: "postgres", quick: ["postgres", "--days", "1"], normal: ["postgres"], figures: ["ours", "psql", "ratio"]),
        Item(name: "kafka", quick: ["kafka", "--days", "4", "--rounds", "1"], normal: ["kafka"], figures: ["round", "records:"]),
        Item(name: "scaling", quick: ["scaling", "--days", "1", "--tasks", "1,4", "--processes", "2"], normal: ["scaling", "--days", "2"],
             figures: ["1 task", "2 task", "4 task", "8 task", "6 tasks"]),
        Item(name: "gateway", quick: ["gateway", "--seconds", "5"], normal: ["gateway"], figures: ["webhooks/s"]),
    ]

    func run() throws {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var items = Self.items
        if full {
            items.append(Item(name: "serve", quick: ["serve", "--seconds", "10"], normal: ["serve"], figures: ["wakala serve", "duckdb", "chdb", "answers"]))
            if let i = items.firstIndex(where: { $0.name == "pipeline" }) { items[i].normal.append("--flink"); items[i].quick.append("--flink") }
        }
        let began = monotonicSeconds()
        var table: [(bench: String, line: String)] = []
        for item in items {
            let args = ["bench"] + (quick ? item.quick : item.normal)
            note("== wakala \(args.joined(separator: " "))")
            let t0 = monotonicSeconds()
            do {
                let out = try capture(me, args)
                FileHandle.standardError.write(Data(out.utf8))
                let lines = out.split(separator: "\n").map(String.init)
                for line in lines where item.figures.contains(where: { line.hasPrefix($0) }) {
                    table.append((item.name, line.trimmingCharacters(in: .whitespaces)))
                }
                note(String(format: "== %@ took %.0f s", item.name, monotonicSeconds() - t0))
            } catch {
                table.append((item.name, "FAILED: \(error)"))
            }
        }
        print(String(format: "wakala bench%@ — %.0f s; each figure beside its peer's, measured in the same run", quick ? " --quick" : "",
                     monotonicSeconds() - began))
        var last = ""
        for row in table {
            print(pad(row.bench == last ? "" : row.bench, 12) + row.line)
            last = row.bench
        }
    }
}

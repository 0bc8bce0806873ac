import Foundation
import Operators
import Testing
import TestSupport

/// The pipeline reference (issue 29, 2): docs/PIPELINES.md is `wakala docs`, and a pipeline
/// written from its examples alone validates and runs.
@Suite struct DocsTests {
    @Test func pipelinesMarkdownIsWakalaDocs() throws {
        let r = try runProcess(try wakalaBinary(), ["docs"], timeout: 30)
        #expect(r.status == 0)
        let committed = try String(contentsOfFile: "docs/PIPELINES.md", encoding: .utf8)
        #expect(r.stdout == committed, "docs/PIPELINES.md is stale: run `wakala docs > docs/PIPELINES.md`")
        for type in ["dedupe", "window_aggregate", "repartition", "order_lifecycle", "quota", "delivery_eta", "rollup", "postgres", "parquet", "kafka", "dead_letters", "file"] {
            #expect(r.stdout.contains("### `\(type)`"), "no section for \(type)")
        }
    }

    @Test func aPipelineWrittenFromTheExamplesRuns() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-docs-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let bin = try wakalaBinary()
        for source in ["kafka", "file"] {
            try PipelineReference.examplePipeline(source: source).write(toFile: work + "/\(source).yaml", atomically: true, encoding: .utf8)
        }
        let v = try runProcess(bin, ["validate", work + "/kafka.yaml", work + "/file.yaml"], timeout: 30)
        #expect(v.status == 0, "\(v.stderr)\n\(PipelineReference.examplePipeline(source: "file"))")
        let gen = try runProcess(bin, ["generate", "--seed", "5", "--tenants", "2", "--days", "1", "--out", work + "/in.ndjson"], timeout: 60)
        #expect(gen.status == 0, "\(gen.stderr)")
        let r = try runProcess(bin, ["replay", "--pipeline", work + "/file.yaml", "--input", work + "/in.ndjson", "--out", work + "/out"], timeout: 300)
        #expect(r.status == 0, "\(r.stderr)")
        let perHour = (try? String(contentsOfFile: work + "/out/orders_per_hour.ndjson", encoding: .utf8)) ?? ""
        #expect(perHour.split(separator: "\n").count > 5 && perHour.contains("\"sum\":"), "\(perHour.prefix(300))")
    }
}

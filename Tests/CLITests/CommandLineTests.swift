import Foundation
import Testing
import TestSupport

/// The command line a newcomer learns alone (issue 29, 6): one spelling for a Kafka address
/// (`--brokers`; the old ones refused with the new), an unknown command named (exit 2, not the
/// root's help with exit 0), `--version`, and `replay --out` the only thing that sends rows to a
/// folder.
@Suite struct CommandLineTests {
    @Test func spellingsVersionAndUnknownCommands() throws {
        let bin = try wakalaBinary()
        let version = try runProcess(bin, ["--version"], timeout: 30)
        #expect(version.status == 0 && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3, "\(version.stdout)")

        let unknown = try runProcess(bin, ["reconcile", "--help"], timeout: 30)
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown command 'reconcile'") && unknown.stderr.contains("replay"), "\(unknown.stderr)")
        let typo = try runProcess(bin, ["replya"], timeout: 30)
        #expect(typo.status == 2 && typo.stderr.contains("did you mean 'replay'"), "\(typo.stderr)")

        let generate = try runProcess(bin, ["generate", "--seed", "1", "--kafka", "127.0.0.1:9"], timeout: 30)
        #expect(generate.status == 2 && generate.stderr.contains("--kafka is now --brokers"), "\(generate.stderr)")
        let replay = try runProcess(bin, ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", "x.ndjson", "--sinks", "--kafka", "127.0.0.1:9"], timeout: 30)
        #expect(replay.status == 2 && replay.stderr.contains("--kafka is now --brokers"), "\(replay.stderr)")
        let broker = try runProcess(bin, ["broker", "--brokers", "3"], timeout: 30)
        #expect(broker.status == 2 && broker.stderr.contains("--broker-count 3"), "\(broker.stderr)")
    }

    @Test func replayRowsGoToStandardOutputWhateverTheDataFolder() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-cli-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let bin = try wakalaBinary()
        let gen = try runProcess(bin, ["generate", "--seed", "3", "--tenants", "1", "--days", "1", "--out", work + "/in.ndjson"], timeout: 60)
        #expect(gen.status == 0, "\(gen.stderr)")
        let r = try runProcess(bin, ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", work + "/in.ndjson"], timeout: 120,
                               environment: ["WAKALA_DATA_DIR": work + "/data"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"operator\":\"rollups\""), "the rows on standard output: \(r.stdout.prefix(300))")
        #expect(!FileManager.default.fileExists(atPath: work + "/data"), "WAKALA_DATA_DIR chose a folder for replay's rows")
    }
}

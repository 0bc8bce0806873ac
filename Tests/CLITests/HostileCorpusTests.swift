import Foundation
import Sinks
import TestSupport
import Testing
import Postgres

/// The hostile-input suite of issue 27: a seeded corpus of 10,000 records mutated from generated
/// ones (byte flips, truncation, NUL and control characters, 2^63 and 1e400 numbers, 100,000-deep
/// nesting, 2 MB strings, odd Unicode, far-future and year-0 times, duplicate keys, …).
@Suite(.serialized) struct HostileCorpusTests {
    /// The seed: fixed, so a failure reproduces; printed in every message.
    static let seed = 2701

    static func corpus(_ work: String) throws -> String {
        let source = work + "/source.ndjson", corpus = work + "/corpus.ndjson"
        let g = try runProcess(try wakalaBinary(), ["generate", "--seed", "27", "--tenants", "4", "--days", "1", "--out", source], timeout: 120)
        try #require(g.status == 0, "\(g.stderr)")
        let m = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/hostile_corpus.py", "make", String(seed), "10000", source, corpus],
                               timeout: 120)
        try #require(m.status == 0, "seed \(seed): \(m.stderr)")
        return corpus
    }

    /// Through `replay --sinks` with Postgres and Parquet: exit 0; accepted + dead letters = records
    /// in, every dead letter in the dlq files; a rerun exits 0; DuckDB and pyarrow read every file.
    @Test func replayWithSinksTakesTheCorpus() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-hostile-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let corpus = try Self.corpus(work)
        let url = try TestDatabase.fresh("hostile_corpus"), dir = work + "/data"
        let args = ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", corpus, "--sinks", "--postgres", url, "--data", dir,
                    "--checkpoint-records", "2048"]
        let r = try runProcess(try wakalaBinary(), args, timeout: 600)
        #expect(r.status == 0, "seed \(Self.seed): \(r.stderr.suffix(1500))")
        // "replayed N records … A accepted, D dead letters"
        let summary = try #require(r.stderr.split(separator: "\n").first { $0.hasPrefix("replayed ") }.map(String.init), "\(r.stderr.suffix(500))")
        let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        let records = numbers[0]
        let accepted = Int(summary.components(separatedBy: ": ").last!.split(separator: " ")[0])!
        let dead = Int(summary.components(separatedBy: "accepted, ").last!.split(separator: " ")[0])!
        #expect(records == 10_000 && accepted + dead == records, "seed \(Self.seed): \(summary)")
        #expect(accepted > 500 && dead > 5_000, "seed \(Self.seed): the corpus is mostly hostile, not all: \(summary)")
        var lines = 0
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir + "/dlq")) ?? [] where f.hasPrefix("part-") {
            lines += try String(contentsOfFile: dir + "/dlq/" + f, encoding: .utf8).split(separator: "\n").count
        }
        #expect(lines == dead, "seed \(Self.seed): \(lines) dead-letter lines for \(dead) dead letters")

        let again = try runProcess(try wakalaBinary(), args, timeout: 600)
        #expect(again.status == 0 && again.stderr.contains("replayed 0 records"), "seed \(Self.seed): \(again.stderr.suffix(800))")

        let read = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import duckdb, glob, json, sys
            import pyarrow.parquet as pq
            files = glob.glob(sys.argv[1] + '/**/*.parquet', recursive=True)
            rows = 0
            for f in files:
                n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{f}')").fetchall()[0][0]
                assert n == pq.read_table(f).num_rows, f
                rows += n
            print(json.dumps({'files': len(files), 'rows': rows}))
            """, dir + "/parquet"], timeout: 300)
        let doc = try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: Int] ?? [:]
        #expect(read.status == 0 && (doc["files"] ?? 0) >= 3 && (doc["rows"] ?? 0) >= accepted / 2, "seed \(Self.seed): \(read.stdout) \(read.stderr.suffix(500))")
        let db = try PGConnection(url: url)
        #expect(try db.query("SELECT count(*) FROM wakala.checkpoints").rows[0][0] == "1")
    }

    /// The same corpus as signed webhooks through the gateway: every answer 200, 400 or 413, and
    /// `/healthz` up after every batch and at the end.
    @Test func theGatewayTakesTheCorpusAsWebhooks() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-hostile-gw-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let corpus = try Self.corpus(work)
        let f = try GatewayFixture()
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/hostile_corpus.py", "webhooks", String(Self.seed), corpus,
                                                                     String(f.port), GatewayFixture.appSecret, GatewayFixture.paystackSecret], timeout: 1200)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "seed \(Self.seed): \(r.stderr.suffix(800))")
        let byStatus = doc["by_status"] as? [String: Int] ?? [:]
        #expect(doc["requests"] as? Int == 40_000, "seed \(Self.seed): \(doc)")
        #expect(Set(byStatus.keys).isSubset(of: ["200", "400", "413"]), "seed \(Self.seed): \(byStatus) \(doc["unexpected"] ?? "")")
        #expect((byStatus["200"] ?? 0) > 1_000 && (byStatus["400"] ?? 0) > 1_000, "seed \(Self.seed): \(byStatus)")
        #expect(doc["healthz_failures"] as? Int == 0, "seed \(Self.seed)")
        #expect(f.gateway.isRunning, "seed \(Self.seed): the gateway died")
    }
}

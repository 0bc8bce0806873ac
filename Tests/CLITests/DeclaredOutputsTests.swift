import Domain
import Foundation
import Ingest
import Sinks
import Testing
import TestSupport
import Postgres

/// Every declared output lands (issue 27, point 9): a `window_aggregate` named in the postgres
/// and parquet sinks' inputs has its rows in a table named after it and in `<table>/date=…`
/// files, equal to an independent count; the kafka sink's inputs choose the derived events and
/// the dead_letters sink's `path` the dead-letter folder; `validate` refuses what no sink can
/// take; `wakala test` fails on a file it cannot read as a scenario.
@Suite(.serialized) struct DeclaredOutputsTests {
    @Test func windowRowsDerivedEventsAndDeadLettersGoWhereTheFileSays() throws {
        let (work, input) = try ExactlyOnceTests.scratch("declared", seed: 41, tenants: 3, days: 2, extra: ["--malformed", "0.002"])
        defer { try? FileManager.default.removeItem(atPath: work) }
        var yaml = try String(contentsOfFile: "Pipelines/analytics.yaml", encoding: .utf8)
        func change(_ old: String, _ new: String) throws {
            try #require(yaml.contains(old), "analytics.yaml no longer has \(old)")
            yaml = yaml.replacingOccurrences(of: old, with: new)
        }
        // A user's daily revenue in the tenant's day, written to a table of another name.
        try change("sinks:\n", """
              - name: revenue_daily
                type: window_aggregate
                input: dedupe
                events: [order.created]
                key: tenant_id
                window: {type: tumbling, size: 1d}
                timezone: tenant
                sum: data.total_amount
                output: daily_revenue

            sinks:

            """)
        try change("inputs: [orders, quotas, deliveries, rollups, orders_per_hour]", "inputs: [orders, quotas, deliveries, rollups, orders_per_hour, revenue_daily]")
        try change("inputs: [dedupe, orders_per_hour]", "inputs: [dedupe, orders_per_hour, revenue_daily]")
        try change("inputs: [orders, quotas, deliveries]", "inputs: [quotas]")
        try change("    topic: wakala.dlq\n", "    topic: wakala.dlq\n    path: \(work)/dead-letters\n")
        let pipeline = work + "/declared.yaml"
        try yaml.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let v = try runProcess(try wakalaBinary(), ["validate", pipeline], timeout: 30)
        #expect(v.status == 0, "\(v.stdout) \(v.stderr)")

        let url = try TestDatabase.fresh("declared"), dir = work + "/data"
        let r = try runProcess(try wakalaBinary(), ["replay", "--pipeline", pipeline, "--input", input, "--sinks", "--postgres", url, "--data", dir,
                                                    "--checkpoint-records", "2048"], timeout: 600)
        #expect(r.status == 0, "\(r.stderr.suffix(800))")

        // Independently (Python over the raw lines): distinct valid order.created per tenant and
        // UTC hour / Johannesburg day (+02:00, no DST), and their totals in cents.
        let check = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import json, sys, datetime, decimal
            seen, hourly, daily = set(), {}, {}
            for line in open(sys.argv[1], encoding='utf-8', errors='replace'):
                try: e = json.loads(line)
                except Exception: continue
                if not isinstance(e, dict) or e.get('event_type') != 'order.created' or e.get('event_id') in seen: continue
                try:
                    t = datetime.datetime.fromisoformat(e['timestamp'].replace('Z', '+00:00'))
                    cents = int(decimal.Decimal(str(e['data']['total_amount'])) * 100)
                except Exception: continue
                seen.add(e['event_id'])
                ms = int(t.timestamp() * 1000)
                h = (e['tenant_id'], ms // 3600000 * 3600000)
                d = (e['tenant_id'], (ms + 7200000) // 86400000 * 86400000 - 7200000)
                hourly[h] = hourly.get(h, 0) + 1
                c, s = daily.get(d, (0, 0)); daily[d] = (c + 1, s + cents)
            print(json.dumps({'hourly': sorted([k[0], k[1], n] for k, n in hourly.items()),
                              'daily': sorted([k[0], k[1], c, s] for k, (c, s) in daily.items())}))
            """, input], timeout: 120)
        let expected = try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: [[Any]]] ?? [:]
        let hourly = (expected["hourly"] ?? []).map { "\($0[0])|\($0[1])|\($0[2])" }
        let daily = (expected["daily"] ?? []).map { "\($0[0])|\($0[1])|\($0[2])|\($0[3])" }
        #expect(hourly.count > 20 && daily.count >= 6, "\(check.stderr)")

        let db = try PGConnection(url: url)
        let pgHourly = try db.query("SELECT key, (extract(epoch FROM window_start) * 1000)::bigint, count FROM wakala.orders_per_hour ORDER BY 1, 2").rows
            .map { $0.map { $0 ?? "" }.joined(separator: "|") }
        #expect(pgHourly == hourly.sorted(), "orders_per_hour differs: \(pgHourly.count) vs \(hourly.count) rows")
        let pgDaily = try db.query("SELECT key, (extract(epoch FROM window_start) * 1000)::bigint, count, sum FROM wakala.daily_revenue ORDER BY 1, 2").rows
            .map { $0.map { $0 ?? "" }.joined(separator: "|") }
        #expect(pgDaily == daily.sorted(), "daily_revenue differs: \(pgDaily) vs \(daily)")

        // Parquet, read by DuckDB: the latest row of each window equals the same counts.
        let pq = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import duckdb, sys, json
            out = {}
            for table, cols in (('orders_per_hour', 'count'), ('daily_revenue', 'count, sum')):
                rows = duckdb.sql(f"SELECT key, epoch_ms(window_start), {cols} FROM read_parquet('{sys.argv[1]}/{table}/**/*.parquet', hive_partitioning=true) "
                                  f"QUALIFY row_number() OVER (PARTITION BY key, window_start ORDER BY update DESC, count DESC) = 1 ORDER BY 1, 2").fetchall()
                out[table] = ['|'.join(str(v) for v in r) for r in rows]
            print(json.dumps(out))
            """, dir + "/parquet"], timeout: 120)
        let files = try JSONSerialization.jsonObject(with: Data(pq.stdout.utf8)) as? [String: [String]] ?? [:]
        #expect(files["orders_per_hour"] == hourly.sorted(), "Parquet orders_per_hour: \(pq.stderr)")
        #expect(files["daily_revenue"] == daily.sorted(), "Parquet daily_revenue: \(pq.stderr)")
        let manifest = try db.query("SELECT count(*) FROM wakala.file_manifest WHERE kind IN ('orders_per_hour', 'daily_revenue')").rows[0][0]
        #expect((Int(manifest ?? "0") ?? 0) >= 2, "the window files are in the manifest")

        // Derived events: only the kafka sink's inputs (quotas); dead letters in the sink's path.
        let derived = try FileManager.default.contentsOfDirectory(atPath: dir + "/derived").filter { $0.hasPrefix("part-") }
        var types = Set<String>()
        for f in derived {
            for line in try String(contentsOfFile: dir + "/derived/" + f, encoding: .utf8).split(separator: "\n") {
                let doc = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                types.insert(doc?["event_type"] as? String ?? "?")
            }
        }
        #expect(!types.isEmpty && types.allSatisfy { $0.hasPrefix("quota.") }, "\(types)")
        let dead = (try? FileManager.default.contentsOfDirectory(atPath: work + "/dead-letters")) ?? []
        #expect(dead.contains { $0.hasPrefix("part-") }, "dead letters under the sink's path: \(dead)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/dlq"))
    }

    /// The kafka sink's `brokers` is where derived events and dead letters go (with their
    /// exactly-once markers), not the source's cluster.
    @Test func theKafkaSinksBrokersAreHonoured() throws {
        let f = try KafkaRunTests.Fixture("sinkbrokers", seed: 43, tenants: 3, partitions: 2)
        defer { f.remove() }
        let out = try EmbeddedBroker(partitions: 2, topics: Topics.outputs + [Topics.defaultMarkers])
        let pipeline = try KafkaRunTests.pipelineVariant(f.work, "  - name: derived_events\n    type: kafka\n    brokers: ${WAKALA_KAFKA_BROKERS:-127.0.0.1:9092}",
                                                        "  - name: derived_events\n    type: kafka\n    brokers: \(out.bootstrapServers)")
        let url = try TestDatabase.fresh("sinkbrokers")
        let r = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, url, f.work + "/b", group: "g-sink", outputs: "kafka", pipeline: pipeline),
                               timeout: 900)
        #expect(r.status == 0, "\(r.stderr.suffix(1000))")
        func count(_ bootstrap: String, _ topic: String) throws -> Int {
            try KafkaExactlyOnceTests.committed(bootstrap, topic).filter { !$0.isEmpty }.count
        }
        #expect(try count(out.bootstrapServers, Topics.orderStatus) > 100, "derived events on the sink's cluster")
        #expect(try count(out.bootstrapServers, Topics.deadLetters) > 0, "dead letters on the sink's cluster")
        #expect(try count(f.bootstrap, Topics.orderStatus) == 0 && count(f.bootstrap, Topics.deadLetters) == 0, "nothing on the source's cluster")
        withExtendedLifetime(out) {}
    }

    @Test func validateRefusesWhatNoSinkCanTake() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-refuse-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let base = try String(contentsOfFile: "Pipelines/analytics.yaml", encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("inputs: [orders, quotas, deliveries, rollups, orders_per_hour]", "inputs: [orders, dedupe]", "'dedupe' is a dedupe operator, which a postgres sink cannot take"),
            ("inputs: [dedupe, orders_per_hour]", "inputs: [dedupe, orders]", "'orders' is a order_lifecycle operator, which a parquet sink cannot take"),
            ("inputs: [orders, quotas, deliveries]", "inputs: [orders, rollups]", "'rollups' is a rollup operator, which a kafka sink cannot take"),
            ("    sum: data.total_amount\n", "    sum: data.total_amount\n    output: orders\n", "table 'orders'"),
        ]
        for (from, to, message) in cases {
            let path = work + "/p.yaml"
            try base.replacingOccurrences(of: from, with: to).write(toFile: path, atomically: true, encoding: .utf8)
            let r = try runProcess(try wakalaBinary(), ["validate", path], timeout: 30)
            #expect(r.status == 2 && (r.stdout + r.stderr).contains(message), "\(to): \(r.stdout) \(r.stderr)")
        }
    }

    @Test func aFileThatIsNotAScenarioFailsTheScenarioRun() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-scen-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let repo = FileManager.default.currentDirectoryPath
        for name in ["hourly-orders", "lateness"] {
            let text = try String(contentsOfFile: "Tests/Scenarios/\(name).yaml", encoding: .utf8)
                .replacingOccurrences(of: "pipeline: ../../", with: "pipeline: \(repo)/")
            try (name == "lateness" ? text.replacingOccurrences(of: "\nscenario:", with: "\nscenaro:").replacingOccurrences(of: "^scenario:", with: "scenaro:", options: .regularExpression) : text)
                .write(toFile: "\(work)/\(name).yaml", atomically: true, encoding: .utf8)
        }
        try FileManager.default.copyItem(atPath: "Pipelines/examples/orders-per-hour.yaml", toPath: work + "/a-pipeline.yaml")
        let r = try runProcess(try wakalaBinary(), ["test", work], timeout: 120)
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.contains("1 passed, 1 failed") && r.stdout.contains("unknown key 'scenaro'"), "\(r.stdout)")
    }
}

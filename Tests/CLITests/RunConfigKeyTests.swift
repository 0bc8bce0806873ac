import Domain
import Foundation
import Ingest
import Sinks
import Testing
import TestSupport

/// The pipeline file's keys that only a Kafka run or the sinks use do what they say: the source's
/// `group`, a repartition's `topic`, the parquet sink's `row_group_rows`, the kafka sink's `inputs`,
/// and `checkpoint.max_process_records`.
@Suite(.serialized) struct RunConfigKeyTests {
    @Test func groupTopicRowGroupsAndKafkaInputs() throws {
        let (work, input) = try ExactlyOnceTests.scratch("keys", seed: 61, tenants: 3, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        var yaml = try String(contentsOfFile: "Pipelines/analytics.yaml", encoding: .utf8)
        func change(_ old: String, _ new: String) {
            #expect(yaml.contains(old), "analytics.yaml no longer has \(old)")
            yaml = yaml.replacingOccurrences(of: old, with: new)
        }
        change("    group: wakala-analytics\n", "    group: custom-group\n")
        change("    lookup: data.delivery_id\n", "    lookup: data.delivery_id\n    topic: custom-deliveries\n")
        change("    inputs: [dedupe, orders_per_hour]\n", "    inputs: [dedupe, orders_per_hour]\n    row_group_rows: 500\n")
        change("    inputs: [orders, quotas, deliveries]\n", "    inputs: [orders]\n")
        let pipeline = work + "/keys.yaml"
        try yaml.write(toFile: pipeline, atomically: true, encoding: .utf8)

        let partitions = 3 // not the mock cluster's default topic size
        let broker = try EmbeddedBroker(partitions: partitions, topics: Topics.inputs + Topics.outputs + Topics.defaultInternal)
        defer { withExtendedLifetime(broker) {} }
        _ = try KafkaRunTests.produce(broker.bootstrapServers, input)
        let url = try TestDatabase.fresh("keys")
        let args = ["run", "--pipeline", pipeline, "--until-end", "--brokers", broker.bootstrapServers, "--postgres", url,
                    "--data", work + "/data", "--outputs", "kafka"]
        // An internal topic the run cannot have with the inputs' partition count (the mock cluster
        // cannot create topics; asking for one it does not know makes one of its default size).
        let other = work + "/other.yaml"
        try yaml.replacingOccurrences(of: "custom-deliveries", with: "custom-missing").write(toFile: other, atomically: true, encoding: .utf8)
        let missing = try runProcess(try wakalaBinary(), ["run", "--pipeline", other] + args.dropFirst(3), timeout: 120)
        #expect(missing.status == 2 && missing.stderr.contains("custom-missing"), "\(missing.stderr)")
        try broker.createTopic("custom-deliveries", partitions: partitions)
        let r = try runProcess(try wakalaBinary(), args, timeout: 600)
        #expect(r.status == 0, "\(r.stderr)")

        func count(_ topic: String) throws -> Int {
            let k = try runProcess(KafkaRunTests.kcat, ["-b", broker.bootstrapServers, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                                                        "-X", "isolation.level=read_committed", "-f", "%o\n"], timeout: 60)
            return k.stdout.split(separator: "\n").count
        }
        #expect(try count("custom-deliveries") > 0)
        #expect(try count(Topics.defaultRepartition) == 0)
        #expect(try count(Topics.orderStatus) > 0)
        #expect(try count(Topics.quotaAlerts) == 0 && count(Topics.deliveryETA) == 0, "only the kafka sink's inputs go to Kafka")
        let probe = try KafkaConsumer(brokers: broker.bootstrapServers, group: "custom-group")
        let committed = try probe.committed((0..<partitions).map { TopicPartition(Topics.orders, $0) })
        for p in 0..<partitions {
            let high = try probe.watermarks(TopicPartition(Topics.orders, p)).high
            if high > 0 { #expect(committed[TopicPartition(Topics.orders, p)] == high, "the run's offsets are committed under the file's group: \(committed)") }
        }
        #expect(committed.values.contains { $0 > 0 })
        // Row groups of at most 500 rows (pyarrow reads the footers).
        let py = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import glob, json, pyarrow.parquet as pq
            sizes = [pq.ParquetFile(f).metadata.row_group(i).num_rows for f in glob.glob('\(work)/data/parquet/events/**/*.parquet', recursive=True)
                     for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
            print(json.dumps({"groups": len(sizes), "max": max(sizes)}))
            """], timeout: 120)
        let doc = try JSONSerialization.jsonObject(with: Data(py.stdout.utf8)) as? [String: Int]
        #expect((doc?["max"] ?? .max) <= 500 && (doc?["groups"] ?? 0) > 10, "\(py.stdout) \(py.stderr)")
    }

    /// `checkpoint.max_process_records`: once the process's tasks hold more records between
    /// checkpoints than the budget, the fullest checkpoints (or waits), so what they hold stays
    /// within a poll or two of the budget — and the results are those of the reference replay.
    @Test func processRecordBudgetBoundsWhatTheTasksHold() throws {
        let partitions = 8, budget = 2_000, batch = 256
        let f = try KafkaRunTests.Fixture("budget", seed: 21, tenants: 6, partitions: partitions)
        defer { f.remove() }
        #expect(f.lines > 4 * budget, "the stream must outgrow the budget: \(f.lines) records")
        var yaml = try String(contentsOfFile: "Pipelines/analytics.yaml", encoding: .utf8)
        #expect(yaml.contains("checkpoint:\n  interval: 10s\n"))
        yaml = yaml.replacingOccurrences(of: "checkpoint:\n  interval: 10s\n", with: "checkpoint:\n  interval: 10s\n  max_process_records: \(budget)\n")
        let pipeline = f.work + "/budget.yaml"
        try yaml.write(toFile: pipeline, atomically: true, encoding: .utf8)

        /// The run's "at most N records held between checkpoints (K checkpoints for the process budget of B)".
        func run(_ file: String, _ name: String) throws -> (url: String, dir: String, held: Int, budgeted: Int, budget: Int) {
            let url = try TestDatabase.fresh(name), dir = f.work + "/" + name
            // No checkpoint by time (the interval is an hour) or by a task's own count (the stream is smaller).
            let r = try runProcess(try wakalaBinary(), ["run", "--pipeline", file, "--until-end", "--brokers", f.bootstrap, "--group", "g-" + name,
                                                        "--postgres", url, "--data", dir, "--outputs", "files", "--batch", String(batch),
                                                        "--checkpoint-interval", "1h"], timeout: 600)
            #expect(r.status == 0, "\(r.stderr.suffix(2000))")
            let line = r.stderr.split(separator: "\n").first { $0.contains("records held between checkpoints") }.map(String.init) ?? ""
            let numbers = line.split(separator: "at most ").last.map { $0.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) } } ?? []
            #expect(numbers.count == 3, "no budget figures in: \(r.stderr.suffix(1000))")
            return (url, dir, numbers.first ?? -1, numbers.dropFirst().first ?? -1, numbers.last ?? -1)
        }
        let free = try run("Pipelines/analytics.yaml", "budget_free")
        #expect(free.budget == 1_000_000 && free.budgeted == 0)
        #expect(free.held > 2 * budget, "without the budget the tasks hold the stream until the end: \(free.held)")
        let bound = try run(pipeline, "budget_bound")
        #expect(bound.budget == budget)
        #expect(bound.budgeted >= 2, "checkpoints for the budget: \(bound.budgeted)")
        // One poll over the budget, two when every task over it is still writing its previous
        // checkpoint (they pause; a task that had just checkpointed may still take a poll).
        #expect(bound.held <= budget + 2 * batch, "held \(bound.held) records at once, over the budget \(budget) + two polls of \(batch)")
        try KafkaRunTests.expectSameResults(f.urlA, f.dirA, bound.url, bound.dir)
    }
}

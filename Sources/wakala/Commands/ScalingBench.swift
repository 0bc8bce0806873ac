import ArgumentParser
import Domain
import Foundation
import Ingest
import Sinks
import Postgres

/// `wakala bench scaling`: `wakala run --until-end` from Kafka (the mock cluster) with every
/// operator and sink, for 1, 2, 4 and 8 tasks (partitions per topic) in one process, then 1 to 3
/// processes sharing one consumer group over 6 tasks. Prints a table (and a CSV for the plot).
struct ScalingBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scaling",
        abstract: "Events/s of wakala run for 1, 2, 4, 8 tasks and 1–3 processes (mock Kafka, every sink).")

    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 4
    @Option(help: "Task counts (partitions per topic) for one process.") var tasks: String = "1,2,4,8"
    @Option(help: "Process counts sharing one group (over --shared-tasks tasks).") var processes: String = "1,2,3"
    @Option(help: "Tasks when several processes share them.") var sharedTasks: Int = 6
    @Option(help: "Write the figures as CSV here (kind,n,seconds,events_per_s,busy_events_per_s).") var csv: String?

    func run() throws {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let scratch = try BenchScratch("scaling")
        defer { scratch.remove() }
        let work = scratch.dir, pg = scratch.pg
        var lines: [String] = []
        var n = 0

        /// A fresh cluster with `partitions` per topic holding the stream; then `procs` runs at once.
        func measure(partitions: Int, procs: Int) throws -> (seconds: Double, records: Int, busy: Double) {
            let broker = try EmbeddedBroker(partitions: partitions, topics: Topics.inputs + Topics.outputs + Topics.defaultInternal)
            var config = GeneratorConfig()
            config.seed = 7; config.tenants = tenants; config.days = days; config.disorderMillis = 20_000; config.duplicates = 0.01
            let count = try produceGenerated(config, to: broker, partitions: partitions)
            n += 1
            let url = try pg.createDatabase("scaling_\(n)")
            var logs: [String] = []
            var running: [Process] = []
            let t0 = monotonicSeconds()
            for i in 0..<procs {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: me)
                p.arguments = ["run", "--pipeline", "Pipelines/analytics.yaml", "--until-end", "--brokers", broker.bootstrapServers,
                               "--group", "scaling-\(n)", "--postgres", url, "--data", work + "/data-\(n)", "--outputs", "kafka",
                               "--log-level", "error"]
                _ = i
                p.standardOutput = FileHandle.nullDevice
                let log = work + "/run-\(n)-\(i).log"
                _ = FileManager.default.createFile(atPath: log, contents: nil)
                p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
                logs.append(log)
                try p.run()
                running.append(p)
            }
            for p in running { p.waitUntilExit() }
            let seconds = monotonicSeconds() - t0
            for p in running where p.terminationStatus != 0 { throw RuntimeFailure("wakala run exited \(p.terminationStatus) (\(partitions) tasks, \(procs) processes)") }
            let db = try PGConnection(url: url)
            let done = Int(try db.query("SELECT count(*) FROM wakala.checkpoints").rows[0][0] ?? "0") ?? 0
            guard done == partitions else { throw RuntimeFailure("only \(done) of \(partitions) tasks checkpointed") }
            withExtendedLifetime(broker) {}
            try? FileManager.default.removeItem(atPath: work + "/data-\(n)")
            // Processing + checkpoint time of the first process (its loop, without waiting on polls).
            var busy = 0.0
            let text = (try? String(contentsOfFile: logs[0], encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("loop time") }) {
                let nums = line.split(separator: " ").compactMap { Double($0) }
                if nums.count >= 3 { busy = nums[nums.count - 2] + nums[nums.count - 1] }
            }
            return (seconds, count, busy)
        }

        print("wakala run --until-end (every operator and sink, mock Kafka on the same 2 cores)")
        print(pad("configuration", 28) + "   records     wall     events/s   busy (process 1: processing + checkpoints)")
        for t in tasks.split(separator: ",").compactMap({ Int($0) }) {
            let r = try measure(partitions: t, procs: 1)
            print(pad("\(t) task(s), 1 process", 28) + String(format: " %9d %7.2f s %11.0f   %.2f s", r.records, r.seconds, Double(r.records) / r.seconds, r.busy))
            lines.append("tasks,\(t),\(r.seconds),\(Double(r.records) / r.seconds),\(r.busy > 0 ? String(Double(r.records) / r.busy) : "")")
        }
        for k in processes.split(separator: ",").compactMap({ Int($0) }) {
            let r = try measure(partitions: sharedTasks, procs: k)
            print(pad("\(sharedTasks) tasks, \(k) process(es)", 28) + String(format: " %9d %7.2f s %11.0f   %.2f s", r.records, r.seconds, Double(r.records) / r.seconds, r.busy))
            lines.append("processes,\(k),\(r.seconds),\(Double(r.records) / r.seconds),")
        }
        if let csv { try ("kind,n,seconds,events_per_s,busy_events_per_s\n" + lines.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8) }
    }
}

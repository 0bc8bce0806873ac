import Domain
import Foundation
import Ingest
import Sinks
import Testing
import TestSupport
import Postgres

/// Scale-out (CONTRACT §4, the Kafka Streams model): processes in one consumer group share the
/// partitions; tasks move between them only through their checkpoints. Three processes on 12
/// partitions while the producer is still writing; one is killed with SIGKILL midway and a
/// fourth joins later; the end results equal a single process's over the same records — whether
/// the producers place keys as the Java client does (murmur2), or disagree (orders by murmur2,
/// the rest by CRC-32, payments without a key: records forwarded between tasks of different
/// processes, and again by a killed process's tasks restarting elsewhere; issue 28).
@Suite(.serialized) struct KafkaScaleOutTests {
    /// A `wakala run` child with its log in a file.
    final class RunProcess {
        let process = Process()
        let log: String
        init(_ args: [String], log: String) throws {
            self.log = log
            process.executableURL = try wakalaBinary()
            process.arguments = args
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
        var text: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func signal(_ s: Int32) { if process.isRunning { kill(process.processIdentifier, s) } }
        deinit {
            signal(SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` seconds pass.
    static func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try condition() { return true }
            usleep(50_000)
        }
        Issue.record("timed out after \(timeout) s waiting for \(what)")
        return false
    }

    @Test(arguments: [["--partitioner", "murmur2_random"],
                      PartitionerTests.disagreeing + ["--keyless", "payments"]])
    func threeProcessesOneKilledAFourthJoiningEqualOneProcess(placement: [String]) throws {
        // The reference is one process over the file; the producer writes while the runs run.
        let partitions = 12
        let f = try KafkaRunTests.Fixture("scale", seed: 31, tenants: 8, partitions: partitions, produce: false)
        defer { f.remove() }
        let (work, input, lines, urlA, dirA, bootstrap) = (f.work, f.input, f.lines, f.urlA, f.dirA, f.bootstrap)
        let urlB = try TestDatabase.fresh("scale_b"), dirB = work + "/b"
        let group = "scale"
        let args = ["run", "--pipeline", "Pipelines/analytics.yaml", "--brokers", bootstrap, "--group", group, "--postgres", urlB,
                    "--data", dirB, "--outputs", "files", "--checkpoint-records", "1500", "--checkpoint-interval", "1s", "--batch", "1000"]
        var runs = try (0..<3).map { try RunProcess(args, log: work + "/run-\($0).log") }

        // The producer writes while they run, paced (a pause every 500 records).
        let producer = Process()
        producer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        producer.arguments = ["python3", "Tests/Tools/kafka_produce.py", bootstrap, input, "--pace-every", "500", "--pause-ms", "300"] + placement
        let producerOut = work + "/producer.out"
        _ = FileManager.default.createFile(atPath: producerOut, contents: nil)
        producer.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: producerOut))
        producer.standardError = FileHandle.standardError
        try producer.run()
        defer { if producer.isRunning { producer.terminate() } }

        let db = try PGConnection(url: urlB)
        func checkpoints() -> Int {
            (try? db.query("SELECT coalesce(sum(checkpoint_id), 0) FROM wakala.checkpoints").rows.first?[0].flatMap { Int($0) }) ?? 0
        }
        // Midway (the group has committed work, the producer is still writing): SIGKILL one.
        #expect(Self.waitUntil("the first checkpoints", timeout: 120) { checkpoints() >= 12 })
        #expect(producer.isRunning, "the producer finished before the kill: make the stream longer")
        runs[1].signal(SIGKILL)
        runs[1].process.waitUntilExit()
        // Later a fourth joins.
        let before = checkpoints()
        #expect(Self.waitUntil("more checkpoints after the kill", timeout: 120) { checkpoints() >= before + 12 })
        runs.append(try RunProcess(args, log: work + "/run-3.log"))
        producer.waitUntilExit()
        #expect(producer.terminationStatus == 0)
        try KafkaRunTests.checkNothingDropped(bootstrap, partitions: partitions, expected: lines)

        // Until the group has committed every input record (after a checkpoint, as lag tools see it).
        let probe = try KafkaConsumer(brokers: bootstrap, group: group)
        let parts = Topics.inputs.flatMap { t in (0..<partitions).map { TopicPartition(t, $0) } }
        var ends: [TopicPartition: Int64] = [:]
        for tp in parts { ends[tp] = try probe.watermarks(tp).high }
        #expect(try Self.waitUntil("the group to commit every record", timeout: 300) {
            let c = try probe.committed(parts)
            return parts.allSatisfy { ends[$0]! == 0 || c[$0] == ends[$0] }
        })
        #expect(runs[3].text.contains("assigned tasks"), "the fourth process never got tasks: \(runs[3].text.suffix(400))")
        // SIGTERM: each stops after a last checkpoint and leaves the group.
        for (i, r) in runs.enumerated() where i != 1 {
            r.signal(SIGTERM)
            r.process.waitUntilExit()
            #expect(r.process.terminationReason == .exit && r.process.terminationStatus == 0, "run \(i): \(r.text.suffix(600))")
            #expect(r.text.contains("stopped on a signal"), "run \(i): \(r.text.suffix(300))")
        }
        // The unbounded runs left the last events held for the watermark; a bounded run of the
        // same group ends the input (as replay does at the end of its file).
        let end = try runProcess(try wakalaBinary(), args + ["--until-end"], timeout: 600)
        #expect(end.status == 0, "\(end.stderr)")
        #expect(!end.stderr.contains("restored: 0@0"), "a task lost its checkpoint: \(end.stderr.prefix(600))")

        try KafkaRunTests.expectSameResults(urlA, dirA, urlB, dirB)
        #expect(try KafkaRunTests.deadLetters(dirA) == KafkaRunTests.deadLetters(dirB))
        let o = try ExactlyOnceTests.orphans(dirB, urlB)
        #expect(o.onDiskOnly.isEmpty, "files no manifest names: \(o.onDiskOnly.prefix(5))")
        #expect(o.manifestOnly.isEmpty, "manifest rows without a file: \(o.manifestOnly.prefix(5))")
    }
}

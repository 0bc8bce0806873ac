import Foundation
import Ingest
import Sinks
import Testing
import TestSupport
import Postgres

/// Plain mistakes fail fast naming the setting, an unreachable server is waited for a bounded
/// time, another input file is refused, and SIGTERM wins over every retry loop (issue 27, 6–8).
@Suite(.serialized) struct MistakesAndSignalsTests {
    static func replay(_ input: String, _ url: String, _ dir: String, _ extra: [String] = []) -> [String] {
        ExactlyOnceTests.replayArgs(input, url, dir) + extra
    }

    /// A process whose standard error goes to a file (read while it runs).
    final class Running {
        let p = Process()
        let log: String
        init(_ args: [String], log: String, environment: [String: String]? = nil) throws {
            self.log = log
            p.executableURL = try wakalaBinary()
            p.arguments = args
            if let environment { p.environment = environment }
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            p.standardOutput = FileHandle.nullDevice
            try p.run()
        }
        var text: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        /// Polls until `condition` or the process ends, under a deadline.
        func wait(for what: String, timeout: Double, _ condition: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end { if condition() { return true }; if !p.isRunning { break }; usleep(20_000) }
            return condition()
        }
        /// SIGTERM, then the seconds until it exited (nil: not within `limit`, then killed).
        func terminate(limit: Double) -> Double? {
            let t0 = Date()
            kill(p.processIdentifier, SIGTERM)
            while p.isRunning && Date().timeIntervalSince(t0) < limit { usleep(10_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); return nil }
            p.waitUntilExit()
            return Date().timeIntervalSince(t0)
        }
        deinit { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
    }

    @Test func postgresMistakesFailAtOnceAndAnUnreachableServerIsWaitedForABoundedTime() throws {
        let (work, input) = try ExactlyOnceTests.scratch("mistakes", seed: 31, tenants: 2, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let bin = try wakalaBinary()
        // A URL libpq cannot read: exit 2 at once, naming the flag.
        let bad = try runProcess(bin, Self.replay(input, "not-a-url", work + "/d"), timeout: 30)
        #expect(bad.status == 2 && bad.stderr.contains("--postgres") && bad.stderr.contains("not-a-url"), "\(bad.stderr)")
        // A database that does not exist: exit 2, naming it.
        var comps = URLComponents(string: try TestDatabase.fresh("mistakes"))!
        let real = comps.string!
        comps.path = "/no_such_database_here"
        let missing = try runProcess(bin, Self.replay(input, comps.string!, work + "/d"), timeout: 30)
        #expect(missing.status == 2 && missing.stderr.contains("no_such_database_here"), "\(missing.stderr)")
        #expect(!missing.stderr.contains("retrying"))
        // From the environment: the message names the variable.
        let env = try runProcess(bin, ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", input, "--sinks", "--data", work + "/d"], timeout: 30,
                                 environment: ProcessInfo.processInfo.environment.merging(["WAKALA_POSTGRES_URL": "postgresql://[::1"]) { $1 })
        #expect(env.status == 2 && env.stderr.contains("WAKALA_POSTGRES_URL"), "\(env.stderr)")
        // A refused port: retried for --connect-timeout, then exit 1 naming host and port.
        let t0 = Date()
        let refused = try runProcess(bin, Self.replay(input, "postgresql://127.0.0.1:1/x", work + "/d", ["--connect-timeout", "2s"]), timeout: 60)
        let took = Date().timeIntervalSince(t0)
        #expect(refused.status == 1 && refused.stderr.contains("127.0.0.1:1") && refused.stderr.contains("--connect-timeout"), "\(refused.stderr)")
        #expect(refused.stderr.contains("retrying"), "it was retried: \(refused.stderr)")
        #expect(took >= 2 && took < 30, "gave up after \(took) s")
        // And the real database still works.
        let ok = try runProcess(bin, Self.replay(input, real, work + "/ok"), timeout: 300)
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test func runWaitsForAnUnreachableBrokerThenExits1NamingIt() throws {
        let url = try TestDatabase.fresh("nobroker")
        let t0 = Date()
        let r = try runProcess(try wakalaBinary(), ["run", "--pipeline", "Pipelines/analytics.yaml", "--brokers", "127.0.0.1:1", "--postgres", url,
                                                   "--connect-timeout", "3s", "--until-end"], timeout: 120)
        let took = Date().timeIntervalSince(t0)
        #expect(r.status == 1 && r.stderr.contains("127.0.0.1:1") && r.stderr.contains("--connect-timeout"), "\(r.stderr.suffix(800))")
        #expect(took >= 3 && took < 60, "gave up after \(took) s")
    }

    /// A Kafka answer retrying cannot change (the client is not allowed to write the topic): the
    /// run stops with exit 1 naming it, at least-once (`replay --brokers`) and exactly-once (`run`)
    /// alike — not a task retrying for ever.
    @Test func aPermanentKafkaRefusalStopsTheRunNamingIt() throws {
        let f = try KafkaRunTests.Fixture("refused", seed: 36, tenants: 2, partitions: 2)
        defer { f.remove() }
        f.broker.failNext(.produce, .topicAuthorizationFailed, count: 100_000)
        let urlA = try TestDatabase.fresh("refused_replay")
        let t0 = Date()
        let a = try runProcess(try wakalaBinary(), Self.replay(f.input, urlA, f.work + "/a", ["--brokers", f.bootstrap]), timeout: 300)
        #expect(a.status == 1 && a.stderr.contains("retrying cannot mend") && a.stderr.contains("uthoriz"), "\(a.stderr.suffix(800))")
        let urlB = try TestDatabase.fresh("refused_run")
        let b = try runProcess(try wakalaBinary(), KafkaRunTests.runArgs(f.bootstrap, urlB, f.work + "/b", group: "g-refused", outputs: "kafka"), timeout: 300)
        // The run's first write is to the repartition's internal topic (or a checkpoint's
        // transaction): whichever meets the refusal stops the run, naming it.
        #expect(b.status == 1 && b.stderr.contains("uthoriz") && !b.stderr.contains("retrying in"), "\(b.stderr.suffix(800))")
        #expect(Date().timeIntervalSince(t0) < 200, "both stopped without retrying for long")
    }

    /// Another file into the same --data and database: exit 2 naming both, nothing replayed;
    /// `--reset` says what it drops and replays the new file from the start.
    @Test func anotherInputIsRefusedUntilReset() throws {
        let (work, inputA) = try ExactlyOnceTests.scratch("otherinput", seed: 32, tenants: 2, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let inputB = work + "/b.ndjson"
        let g = try runProcess(try wakalaBinary(), ["generate", "--seed", "33", "--tenants", "2", "--days", "1", "--out", inputB], timeout: 120)
        #expect(g.status == 0)
        let url = try TestDatabase.fresh("otherinput"), dir = work + "/d"
        let a = try runProcess(try wakalaBinary(), Self.replay(inputA, url, dir), timeout: 300)
        #expect(a.status == 0, "\(a.stderr)")
        let db = try PGConnection(url: url)
        let ordersA = try db.query("SELECT count(*) FROM wakala.orders").rows[0][0]
        let b = try runProcess(try wakalaBinary(), Self.replay(inputB, url, dir), timeout: 300)
        #expect(b.status == 2, "\(b.stderr)")
        #expect(b.stderr.contains(inputA) && b.stderr.contains(inputB) && b.stderr.contains("--reset"), "\(b.stderr)")
        #expect(try db.query("SELECT count(*) FROM wakala.orders").rows[0][0] == ordersA, "nothing of B was written")
        // The same file again still resumes (nothing to do).
        let again = try runProcess(try wakalaBinary(), Self.replay(inputA, url, dir), timeout: 300)
        #expect(again.status == 0 && again.stderr.contains("replayed 0 records"), "\(again.stderr)")
        // --reset: B from the start, into read models equal to B's alone.
        let reset = try runProcess(try wakalaBinary(), Self.replay(inputB, url, dir, ["--reset"]), timeout: 300)
        #expect(reset.status == 0, "\(reset.stderr)")
        #expect(reset.stderr.contains("reset: dropping pipeline 'analytics'") && reset.stderr.contains("reset: emptying the read models"), "\(reset.stderr)")
        let urlB = try TestDatabase.fresh("otherinput_b")
        let alone = try runProcess(try wakalaBinary(), Self.replay(inputB, urlB, work + "/alone"), timeout: 300)
        #expect(alone.status == 0)
        let m1 = try ExactlyOnceTests.readModels(url), m2 = try ExactlyOnceTests.readModels(urlB)
        for t in ExactlyOnceTests.readModelTables { #expect(m1[t]! == m2[t]!, "read model \(t) differs after --reset") }
        let s1 = try ExactlyOnceTests.sinkState(dir), s2 = try ExactlyOnceTests.sinkState(work + "/alone")
        #expect((s1["tables"] as? NSDictionary) == (s2["tables"] as? NSDictionary), "Parquet tables differ after --reset")
    }

    /// SIGTERM while `replay --sinks` waits for Postgres — at start (refused port) and after an
    /// outage mid-run — ends it within 10 s, exit 1 with the reason; the last checkpoint stands.
    @Test func sigtermStopsPostgresRetriesWithin10Seconds() throws {
        let (work, input) = try ExactlyOnceTests.scratch("sigterm-pg", seed: 34, tenants: 6, extra: [])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let start = try Running(Self.replay(input, "postgresql://127.0.0.1:1/x", work + "/s"), log: work + "/start.log")
        #expect(start.wait(for: "a retry", timeout: 30) { start.text.contains("retrying") })
        let t1 = start.terminate(limit: 15)
        #expect(t1 != nil && t1! < 10, "SIGTERM during the connect retries took \(t1.map { String($0) } ?? "more than 15") s")
        #expect(start.p.terminationStatus == 1 && start.text.contains("stopped by a signal"), "\(start.text.suffix(500))")

        let pg = try LocalPostgres(directory: URL(fileURLWithPath: work + "/pg"))
        defer { try? pg.remove() }
        let url = try pg.createDatabase("sigterm_pg")
        let run = try Running(Self.replay(input, url, work + "/d"), log: work + "/run.log")
        let watch = CheckpointWatch(url)
        #expect(run.wait(for: "a checkpoint", timeout: 120) { (watch.id() ?? 0) >= 1 })
        try #require(run.p.isRunning, "the replay ended before Postgres could be stopped")
        try pg.stop()
        #expect(run.wait(for: "the outage", timeout: 120) { run.text.contains("input paused, retrying") })
        let t2 = run.terminate(limit: 15)
        #expect(t2 != nil && t2! < 10, "SIGTERM during the outage took \(t2.map { String($0) } ?? "more than 15") s")
        #expect(run.p.terminationStatus == 1 && run.text.contains("stopped by a signal"), "\(run.text.suffix(500))")
        // Nothing half: Postgres back, the same command resumes and ends equal to a clean replay.
        try pg.start()
        let resumed = try runProcess(try wakalaBinary(), Self.replay(input, url, work + "/d"), timeout: 600)
        #expect(resumed.status == 0 && resumed.stderr.contains("resumed at checkpoint"), "\(resumed.stderr.suffix(500))")
        let urlC = try TestDatabase.fresh("sigterm_clean")
        let clean = try runProcess(try wakalaBinary(), Self.replay(input, urlC, work + "/c"), timeout: 600)
        #expect(clean.status == 0)
        let m1 = try ExactlyOnceTests.readModels(url), m2 = try ExactlyOnceTests.readModels(urlC)
        for t in ExactlyOnceTests.readModelTables { #expect(m1[t]! == m2[t]!, "read model \(t) differs") }
    }

    /// SIGTERM while `run` retries a Kafka that went away (its checkpoints' publishes blocked and
    /// retried): it stops within 10 s.
    @Test func sigtermStopsKafkaRetriesWithin10Seconds() throws {
        let f = try KafkaRunTests.Fixture("sigterm-kafka", seed: 35, tenants: 4, partitions: 2)
        defer { f.remove() }
        let url = try TestDatabase.fresh("sigterm_kafka")
        var args = KafkaRunTests.runArgs(f.bootstrap, url, f.work + "/b", group: "g-sig", outputs: "kafka")
        args.removeAll { $0 == "--until-end" }
        args += ["--checkpoint-interval", "1s"]
        let run = try Running(args, log: f.work + "/run.log")
        let watch = CheckpointWatch(url)
        #expect(run.wait(for: "a checkpoint", timeout: 120) { (watch.id() ?? 0) >= 1 })
        try #require(run.p.isRunning)
        f.broker.setDown()
        defer { f.broker.setUp() }
        #expect(run.wait(for: "a Kafka failure", timeout: 120) { run.text.contains("retrying") || run.text.contains("failed") })
        let t = run.terminate(limit: 15)
        #expect(t != nil && t! < 10, "SIGTERM with Kafka down took \(t.map { String($0) } ?? "more than 15") s: \(run.text.suffix(800))")
    }

    /// A socket listening on a free loopback port, held until closed.
    final class HeldPort {
        let fd: Int32
        let port: Int
        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.fd = fd
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            try #require(ok, "no loopback port to hold")
            port = Int(UInt16(bigEndian: addr.sin_port))
        }
        deinit { close(fd) }
    }

    /// A port another process listens on is a mistake in the settings: every command that
    /// listens exits 2 at once naming the address and the setting — not a hang (a `run` whose
    /// metrics port was taken kept consuming without it and ignored SIGINT; the demo printed its
    /// URL, then hung with its pipeline running and no dashboard).
    @Test func aPortInUseFailsAtOnceNamingTheSetting() throws {
        let held = try HeldPort()
        let at = "127.0.0.1:\(held.port)"
        let bin = try wakalaBinary()
        let url = try TestDatabase.fresh("busyport")
        func expectRefused(_ r: Finished, _ setting: String, _ what: String) {
            #expect(r.status == 2 && r.stderr.contains(at) && r.stderr.contains("in use") && r.stderr.contains(setting), "\(what): exit \(r.status): \(r.stderr.suffix(600))")
            #expect(!r.stderr.contains("bind(descriptor"), "\(what) shows NIO's words")
        }
        let secret = ["WAKALA_JWT_SECRET": String(repeating: "k", count: 32), "WAKALA_PAYSTACK_SECRET": "s"]
        expectRefused(try runProcess(bin, ["serve", "--postgres", url, "--port", String(held.port)], timeout: 60, environment: secret), "--port", "serve")
        expectRefused(try runProcess(bin, ["gateway", "--brokers", "127.0.0.1:1", "--port", String(held.port)], timeout: 60, environment: secret), "--port", "gateway")

        // run: no --until-end, so only the failure can end it.
        let broker = try KafkaRunTests.broker(partitions: 2)
        let work = try DemoTests.tempDir("busyport")
        defer { try? FileManager.default.removeItem(atPath: work) }
        var args = KafkaRunTests.runArgs(broker.bootstrapServers, url, work + "/run", group: "g-busy")
        args.removeAll { $0 == "--until-end" }
        expectRefused(try runProcess(bin, args + ["--metrics-port", String(held.port)], timeout: 60), "--metrics-port", "run")

        // demo: its gateway listens on --port + 1, which is held; it stops its Postgres and leaves
        // no process behind.
        let data = work + "/demo"
        let demo = try runProcess(bin, ["demo", "--port", String(held.port - 1), "--data", data], timeout: 120,
                                  environment: ["WAKALA_SKIP_BUILD": "1"])
        #expect(demo.status == 2 && demo.stderr.contains("in use"), "demo: exit \(demo.status): \(demo.stderr.suffix(600))")
        #expect(demo.stderr.contains(at) || demo.stderr.contains("127.0.0.1:\(held.port - 1)"), "\(demo.stderr.suffix(600))")
        #expect(!demo.stdout.contains("wakala demo is running"), "the demo announced a URL it does not serve")
        #expect(DemoTests.processes(mentioning: data).isEmpty, "left running: \(DemoTests.processes(mentioning: data))")
    }
}

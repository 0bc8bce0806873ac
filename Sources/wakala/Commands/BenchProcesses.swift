import Domain
import Foundation
import Ingest
import Sinks
import Postgres

// Child processes and async work for the benchmarks that drive servers (bench serve, bench gateway).

func runChecked(_ exe: URL, _ args: [String]) throws {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    p.standardOutput = FileHandle.standardError
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw RuntimeFailure("\(args.first ?? "") failed (\(p.terminationStatus))") }
}

func capture(_ exe: URL, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    let path = NSTemporaryDirectory() + "wakala-capture-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: path) }
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try p.run()
    p.waitUntilExit()
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    guard p.terminationStatus == 0 else { throw RuntimeFailure("\(exe.lastPathComponent) \(args.first ?? "") failed: \(text)") }
    return text
}

/// `s` padded with spaces to `n` characters (a table column).
func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }

func curl(_ url: String, token: String) throws -> String {
    try capture(URL(fileURLWithPath: "/usr/bin/curl"), ["-sf", "-H", "Authorization: Bearer \(token)", url])
}


/// Runs async work from this synchronous command.
func awaitSync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<T, Error>?
    Task {
        do { result = .success(try await body()) } catch { result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try result!.get()
}

/// Produces a generated stream to the embedded broker (our producer: zstd batches, murmur2 keys)
/// and checks the mock cluster dropped nothing (it keeps ~5 MB per partition): every input
/// partition still starts at offset 0 and together they hold every record. Returns the count.
/// `placement`: how keys are placed — by `murmur2` (the default), by `crc32`, or `disagree`
/// (orders by murmur2, every other topic by CRC-32: producers that do not agree).
func produceGenerated(_ config: GeneratorConfig, to broker: EmbeddedBroker, partitions: Int, placement: String = "murmur2") throws -> Int {
    var generator = StreamGenerator(config)
    var count = 0
    do { // the producers go before the broker does
        let murmur2 = try KafkaProducer(brokers: broker.bootstrapServers)
        let crc32 = placement == "murmur2" ? murmur2 : try KafkaProducer(brokers: broker.bootstrapServers, settings: [("partitioner", Partitioner.crc32.librdkafkaSetting)])
        try generator.generate { r in
            let producer = placement == "crc32" || (placement == "disagree" && r.topic != Topics.orders) ? crc32 : murmur2
            try producer.produce(topic: r.topic, key: r.key, value: r.value, timestamp: r.arrival)
            count += 1
        }
        try murmur2.flush(timeout: .seconds(300))
        try crc32.flush(timeout: .seconds(300))
    }
    let probe = try KafkaConsumer(brokers: broker.bootstrapServers, group: "bench-probe")
    var held: Int64 = 0
    for t in Topics.inputs {
        for p in 0..<partitions {
            let w = try probe.watermarks(TopicPartition(t, p))
            guard w.low == 0 else { throw RuntimeFailure("\(t)[\(p)] dropped its first \(w.low) records: a shorter stream or more partitions") }
            held += w.high
        }
    }
    guard held == Int64(count) else { throw RuntimeFailure("the broker holds \(held) of \(count) records") }
    return count
}


/// A benchmark's scratch folder (`wakala-bench-<name>-<pid>` in the temporary directory) with a
/// private Postgres cluster in its `pg/`. ``remove()`` stops the cluster and deletes the folder.
struct BenchScratch {
    let dir: String
    let pg: LocalPostgres

    init(_ name: String) throws {
        dir = NSTemporaryDirectory() + "wakala-bench-\(name)-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do { pg = try LocalPostgres(directory: URL(fileURLWithPath: dir + "/pg")) } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    func remove() {
        try? pg.remove()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// CPU seconds (user + system) spent so far, for a benchmark's breakdown of where a run's CPU
/// went: this process (the embedded broker lives here while children run), its finished
/// children (reaped, so a child's figure is the difference around its run), and a private
/// Postgres cluster (the postmaster, the backends it reaped, and those still running).
enum CPUTime {
    static func ownSeconds() -> Double { usage(RUSAGE_SELF.rawValue) }
    static func childrenSeconds() -> Double { usage(RUSAGE_CHILDREN.rawValue) }

    private static func usage(_ who: Int32) -> Double {
        var u = rusage()
        getrusage(who, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// The cluster whose postmaster's pid `postmaster.pid` in `dataDir` names: its own CPU, its
    /// reaped children's and its live children's (nil when it is not running).
    static func postgresSeconds(dataDir: String) -> Double? {
        guard let text = try? String(contentsOfFile: dataDir + "/postmaster.pid", encoding: .utf8),
              let pid = text.split(separator: "\n").first.flatMap({ Int($0) }),
              let master = stat(pid) else { return nil }
        var ticks = master.own + master.reaped
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int(entry), child != pid, let s = stat(child), s.parent == pid else { continue }
            ticks += s.own
        }
        return Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// From /proc/PID/stat: the parent, utime + stime, cutime + cstime (in clock ticks).
    private static func stat(_ pid: Int) -> (parent: Int, own: Int, reaped: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After the command's closing parenthesis: state (field 3), ppid (4), …, utime (14) … cstime (17).
        let f = text[text.index(after: close)...].split(separator: " ")
        guard f.count > 15, let parent = Int(f[1]), let ut = Int(f[11]), let st = Int(f[12]), let cut = Int(f[13]), let cst = Int(f[14]) else { return nil }
        return (parent, ut + st, cut + cst)
    }
}

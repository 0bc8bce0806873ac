import Domain
import Foundation
import Ingest
import Sinks

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
func produceGenerated(_ config: GeneratorConfig, to broker: EmbeddedBroker, partitions: Int) throws -> Int {
    var generator = StreamGenerator(config)
    var count = 0
    do { // the producer goes before the broker does
        let producer = try KafkaProducer(brokers: broker.bootstrapServers)
        try generator.generate { r in
            try producer.produce(topic: r.topic, key: r.key, value: r.value)
            count += 1
        }
        try producer.flush(timeout: .seconds(300))
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

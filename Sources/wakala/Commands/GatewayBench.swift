import ArgumentParser
import Domain
import Foundation
import Gateway
import Ingest

/// `wakala bench gateway`: signed WhatsApp webhooks (3 messages each) under wrk against
/// `wakala gateway` with an embedded broker; every 200 means Kafka acknowledged the records.
struct GatewayBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway",
        abstract: "Webhooks per second and latency under wrk: signed WhatsApp webhooks of 3 messages, acknowledged by Kafka.",
        discussion: """
        Starts `wakala broker` and `wakala gateway` (release build), warms up, then wrk posts \
        --bodies distinct signed webhooks at random. Checks afterwards that the broker holds \
        exactly 3 records per acknowledged webhook. Needs wrk (scripts/setup --bench).
        """)

    @Option(help: "Seconds of load.") var seconds: Int = 20
    @Option(help: "wrk connections.") var connections: Int = 8
    @Option(help: "Distinct signed bodies.") var bodies: Int = 500
    @Option(help: "Partitions per topic of the embedded broker.") var partitions: Int = 4

    func run() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else { throw RuntimeFailure("wrk is missing: scripts/setup --bench") }
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        let dir = NSTemporaryDirectory() + "wakala-bench-gateway-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let broker = try start(me, ["broker", "--partitions", String(partitions)], prefix: "bootstrap: ", env: [:])
        defer { kill(broker.process.processIdentifier, SIGTERM); broker.process.waitUntilExit() }
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max)) }.joined()
        try "\"106540352242922\": t-0001\n".write(toFile: dir + "/tenants.yaml", atomically: true, encoding: .utf8)
        let gateway = try start(me, ["gateway", "--port", "0", "--brokers", broker.line, "--tenants", dir + "/tenants.yaml", "--log-level", "warning"],
                                prefix: "listening: ", env: ["WAKALA_WHATSAPP_APP_SECRET": secret])
        defer { kill(gateway.process.processIdentifier, SIGTERM); gateway.process.waitUntilExit() }
        let base = gateway.line

        // Signed bodies, 3 messages each (as the Cloud API batches them).
        var list: [(body: String, signature: String)] = []
        for i in 0..<bodies {
            let messages = (0..<3).map { k in
                #"{"from":"27821234567","id":"wamid.BENCH\#(i).\#(k)","timestamp":"\#(1_772_355_600 + i)","type":"text","text":{"body":"order \#(i) item \#(k)"}}"#
            }
            let body = #"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"27820000000","phone_number_id":"106540352242922"},"messages":[\#(messages.joined(separator: ","))]}}]}]}"#
            list.append((body, Signatures.sign256(Array(body.utf8), secret: Array(secret.utf8))))
        }
        func lua(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        var script = "bodies = {\n" + list.map { "{\(lua($0.body)),\(lua($0.signature))}" }.joined(separator: ",\n") + "\n}\n"
        script += "math.randomseed(3)\nrequest = function()\n  local x = bodies[math.random(#bodies)]\n"
        script += "  return wrk.format(\"POST\", \"/webhooks/whatsapp\", {[\"Content-Type\"]=\"application/json\", [\"X-Hub-Signature-256\"]=x[2]}, x[1])\nend\n"
        script += "done = function(summary, latency, requests)\n  io.write(string.format(\"WAKALA p50=%d p99=%d max=%d n=%d non2xx=%d errors=%d\\n\", latency:percentile(50), latency:percentile(99), latency.max, summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\nend\n"
        try script.write(toFile: dir + "/gw.lua", atomically: true, encoding: .utf8)

        // Warm up (the producer's first request fetches metadata and its idempotent producer id).
        let warm = try capture(URL(fileURLWithPath: "/usr/bin/wrk"), ["-t1", "-c2", "-d2s", "-s", dir + "/gw.lua", base])
        let warmN = Int(warm.split(separator: "\n").first { $0.hasPrefix("WAKALA ") }?.split(separator: " ").first { $0.hasPrefix("n=") }?.dropFirst(2) ?? "0") ?? 0
        let t0 = monotonicSeconds()
        let out = try capture(URL(fileURLWithPath: "/usr/bin/wrk"), ["-t1", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", dir + "/gw.lua", base])
        let wall = monotonicSeconds() - t0
        guard let stats = out.split(separator: "\n").first(where: { $0.hasPrefix("WAKALA ") }) else { throw RuntimeFailure("wrk: \(out)") }
        var kv: [String: Double] = [:]
        for part in stats.split(separator: " ").dropFirst() {
            let p = part.split(separator: "=")
            kv[String(p[0])] = Double(p[1])
        }
        let n = Int(kv["n"] ?? 0)
        guard kv["non2xx"] == 0, kv["errors"] == 0 else { throw RuntimeFailure("wrk saw failures: \(stats)") }
        // Every acknowledged webhook's 3 records are in the broker (warm-up included).
        let consumer = try KafkaConsumer(brokers: broker.line, group: "bench-gateway-check")
        var held: Int64 = 0
        for p in 0..<partitions { held += try consumer.watermarks(TopicPartition(Topics.whatsappInbound, p)).high }
        // wrk stops counting with requests in flight (at most one per connection per run): those
        // were produced too, so the broker may hold a few more than 3 × the counted ones.
        let slack = Int64(3 * (connections + 2))
        guard held >= Int64(3 * (n + warmN)), held - Int64(3 * (n + warmN)) <= slack else {
            throw RuntimeFailure("the broker holds \(held) records for \(n + warmN) acknowledged webhooks (expected \(3 * (n + warmN)), plus at most \(slack) in flight)")
        }
        print("wrk -t1 -c\(connections) -d\(seconds)s: \(n) signed WhatsApp webhooks (3 messages each), every one answered 200 after Kafka's acknowledgement")
        print(String(format: "webhooks/s %.0f (messages/s %.0f); latency p50 %.2f ms, p99 %.2f ms, max %.1f ms; broker holds %lld records ≥ 3 × acknowledged",
                     Double(n) / wall, 3 * Double(n) / wall, (kv["p50"] ?? 0) / 1000, (kv["p99"] ?? 0) / 1000, (kv["max"] ?? 0) / 1000, held))
    }

    /// A child that prints a line starting with `prefix` once ready; its rest.
    func start(_ exe: URL, _ args: [String], prefix: String, env: [String: String]) throws -> (process: Process, line: String) {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = NSTemporaryDirectory() + "wakala-child-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try p.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) {
                return (p, String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces))
            }
            guard p.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.terminate()
        throw RuntimeFailure("\(args[0]) did not start")
    }
}

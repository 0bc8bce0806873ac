import ArgumentParser
import Domain
import Foundation
import Ingest

/// `wakala generate`: a synthetic township-commerce stream to a file or to Kafka.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a realistic, deterministic township-commerce event stream.",
        discussion: """
        Writes NDJSON (zstd-compressed when the name ends in .zst) or produces to Kafka, one topic per event family, keyed by tenant_id (driver_id on driver-locations).

        Example: wakala generate --seed 7 --tenants 20 --days 7 --out a.ndjson.zst
        """)

    @Option(help: "Random seed: the same seed gives byte-identical output.") var seed: UInt64 = 1
    @Option(help: "Number of tenants.") var tenants: Int = 5
    @Option(help: "Days of activity.") var days: Int = 1
    @Option(name: .customLong("orders-per-day"), help: "Average orders per tenant per day.") var ordersPerDay: Int = 40
    @Option(help: "First day (YYYY-MM-DD), starting at midnight in Africa/Johannesburg.") var start: String = "2026-03-01"
    @Option(help: "Bounded out-of-order arrival, e.g. 20s.") var disorder: DurationArg = DurationArg(millis: 0)
    @Option(help: "Fraction of records delivered twice, e.g. 0.01.") var duplicates: Double = 0
    @Option(help: "Fraction of records followed by a malformed one, e.g. 0.001.") var malformed: Double = 0
    @Flag(help: "Only tenant events and order.created (a large order history for serving benchmarks).") var ordersOnly = false
    @Option(help: "Customers per tenant (default: 40 to 160, drawn from the seed).") var customers: Int?
    @Option(help: "Output file (.ndjson or .ndjson.zst); - for standard output.") var out: String?
    @Option(name: .customLong("brokers"), help: "Kafka bootstrap servers to produce to instead of a file (env WAKALA_KAFKA_BROKERS).") var kafka: String?
    @Option(name: .customLong("kafka"), help: .hidden) var oldKafka: String?
    @Option(help: "With --brokers: how keys are placed — murmur2 (Kafka's Java default, as the pipeline expects) or crc32 (librdkafka's default, as Python, Go and .NET clients place them).")
    var partitioner: String = "murmur2"

    func validate() throws {
        guard tenants >= 1, days >= 1, ordersPerDay >= 0 else { throw ValidationError("--tenants and --days must be ≥ 1, --orders-per-day ≥ 0") }
        if let c = customers, c < 1 { throw ValidationError("--customers must be ≥ 1") }
        guard (0...1).contains(duplicates), (0...1).contains(malformed) else { throw ValidationError("--duplicates and --malformed are fractions between 0 and 1") }
        guard RFC3339.parse(start + "T00:00:00+02:00") != nil else { throw ValidationError("--start must be a date YYYY-MM-DD, got \(start)") }
        if oldKafka != nil { throw ValidationError("--kafka is now --brokers (as on every command): wakala generate … --brokers \(oldKafka!)") }
        if out == nil && kafka == nil && env("WAKALA_KAFKA_BROKERS") == nil { throw ValidationError("give --out FILE or --brokers BROKERS") }
        if out != nil && kafka != nil { throw ValidationError("give either --out or --brokers, not both") }
    }

    func run() throws {
        var config = GeneratorConfig()
        config.seed = seed
        config.tenants = tenants
        config.days = days
        config.ordersPerDay = ordersPerDay
        config.start = RFC3339.parse(start + "T00:00:00+02:00")!
        config.disorderMillis = disorder.millis
        config.duplicates = duplicates
        config.malformed = malformed
        config.ordersOnly = ordersOnly
        config.customers = customers
        var generator = StreamGenerator(config)
        let began = monotonicSeconds()
        var count = 0
        var bytes = 0
        let progress = Progress(label: "generate")

        if let out {
            let path = out == "-" ? "/dev/stdout" : out
            let writer = try FileWriter(path: path)
            try generator.generate { r in
                try writer.write(r.value)
                try writer.write([0x0A])
                count += 1
                bytes += r.value.count + 1
                progress.tick(count, detail: "\(bytes >> 20) MiB, event time \(RFC3339.format(r.eventTime))")
            }
            try writer.close()
            progress.done()
            note("wrote \(count) records (\(bytes >> 20) MiB uncompressed) to \(out) in \(String(format: "%.1f", monotonicSeconds() - began)) s")
        } else {
            let brokers = kafka ?? env("WAKALA_KAFKA_BROKERS")!
            guard let placing = Partitioner(rawValue: partitioner) else { throw ValidationError("--partitioner is murmur2 or crc32") }
            let producer = try KafkaProducer(brokers: brokers, settings: [("partitioner", placing.librdkafkaSetting)])
            var byTopic: [String: Int] = [:]
            try generator.generate { r in
                try producer.produce(topic: r.topic, key: r.key, value: r.value, timestamp: r.arrival)
                byTopic[r.topic, default: 0] += 1
                count += 1
                progress.tick(count, detail: "event time \(RFC3339.format(r.eventTime))")
            }
            do {
                try producer.flush()
            } catch {
                throw RuntimeFailure("Kafka at \(brokers) did not take the stream (\(producer.delivered) of \(count) records acknowledged): \(error)")
            }
            progress.done()
            let topics = byTopic.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            note("produced \(count) records to \(brokers) in \(String(format: "%.1f", monotonicSeconds() - began)) s: \(topics)")
        }
    }
}

/// A progress line on standard error, redrawn at most a few times a second, only on a terminal.
final class Progress {
    private let label: String
    private let enabled = isatty(2) == 1
    private var last = 0.0
    private let began = monotonicSeconds()

    init(label: String) { self.label = label }

    func tick(_ n: Int, detail: @autoclosure () -> String) {
        guard enabled, n & 1023 == 0 else { return }
        let now = monotonicSeconds()
        guard now - last > 0.25 else { return }
        last = now
        let rate = Double(n) / max(0.001, now - began)
        FileHandle.standardError.write(Data("\r\(label): \(n) records, \(Int(rate)) /s, \(detail())\u{1B}[K".utf8))
    }

    func done() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

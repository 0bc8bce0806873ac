import ArgumentParser
import Domain
import Foundation
import Ingest

/// `wakala bench`: the benchmark suite. Figures are ratios against a peer run in the same
/// process on the same bytes, because absolute times move from run to run on shared machines.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run benchmarks and print figures with ratios against a peer (build with -c release).",
        subcommands: [DecodeBench.self])
}

/// Decode + validate of generated order events vs Foundation's JSONDecoder on the same bytes.
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode",
        abstract: "Decode+validate order events: EventDecoder vs Foundation JSONDecoder (Codable).")

    @Option(help: "Tenants in the generated stream.") var tenants: Int = 20
    @Option(help: "Days in the generated stream.") var days: Int = 2
    @Option(help: "Timed rounds per decoder (the best round counts).") var rounds: Int = 5
    @Flag(help: "Only run our decoder (for profiling).") var oursOnly = false

    func run() throws {
        var config = GeneratorConfig()
        config.seed = 42
        config.tenants = tenants
        config.days = days
        var gen = StreamGenerator(config)
        let records = gen.generateAll()
            .filter { $0.topic == Topics.orders }
            .map(\.value)
            .filter { String(decoding: $0, as: UTF8.self).contains("\"event_type\":\"order.") }
        let bytes = records.reduce(0) { $0 + $1.count }
        print("order events: \(records.count), \(bytes / records.count) bytes on average")

        // Records back to back in one buffer, as they arrive in a Kafka fetch or a file read.
        var arena: [UInt8] = []
        var spans: [Range<Int>] = []
        for r in records {
            spans.append(arena.count..<(arena.count + r.count))
            arena += r
        }
        let datas = records.map { Data($0) } // the peer's input, made outside the timing

        let decoder = EventDecoder()
        var ours = Double.infinity
        var peer = Double.infinity
        let jd = JSONDecoder()
        for _ in 0..<rounds {
            var accepted = 0
            let t0 = monotonicSeconds()
            arena.withUnsafeBytes { all in
                for s in spans {
                    if case .success = decoder.decode(UnsafeRawBufferPointer(rebasing: all[s])) { accepted += 1 }
                }
            }
            ours = min(ours, monotonicSeconds() - t0)
            guard accepted == records.count else { throw RuntimeFailure("only \(accepted) of \(records.count) accepted") }
            if oursOnly { continue }
            var ok = 0
            let t1 = monotonicSeconds()
            for d in datas {
                if (try? jd.decode(CodableEnvelope.self, from: d)) != nil { ok += 1 }
            }
            peer = min(peer, monotonicSeconds() - t1)
            guard ok == records.count else { throw RuntimeFailure("JSONDecoder decoded only \(ok)") }
        }
        if oursOnly {
            print(String(format: "EventDecoder (decode+validate): %.0f events/s", Double(records.count) / ours))
            return
        }
        let oursRate = Double(records.count) / ours
        let peerRate = Double(records.count) / peer
        print(String(format: "EventDecoder (decode+validate): %.0f events/s, %.0f MB/s", oursRate, Double(bytes) / ours / 1e6))
        print(String(format: "JSONDecoder (Codable, no validation): %.0f events/s, %.0f MB/s", peerRate, Double(bytes) / peer / 1e6))
        print(String(format: "ratio: %.1fx JSONDecoder", oursRate / peerRate))
    }
}

/// The same order events as Codable types, for the JSONDecoder peer. It does less than our
/// decoder (no money exactness, no sums, no ranges), which favours the peer.
private struct CodableEnvelope: Decodable {
    var event_id: String
    var event_type: String
    var version: String
    var timestamp: String
    var tenant_id: String
    var correlation_id: String?
    var causation_id: String?
    var actor: CodableActor?
    var data: CodableOrderData

    struct CodableActor: Decodable { var type: String; var id: String }

    struct CodableOrderData: Decodable {
        var order_id: String
        var customer_id: String?
        var items: [CodableItem]?
        var subtotal: FlexMoney?
        var delivery_fee: FlexMoney?
        var tax: FlexMoney?
        var discount: FlexMoney?
        var total_amount: FlexMoney?
        var payment_method: String?
        var source: String?
        var vendor_id: String?
        var delivery_id: String?
        var reason: String?
        var cancelled_by: String?
    }

    struct CodableItem: Decodable {
        var product_id: String
        var name: String?
        var quantity: Int
        var unit_price: FlexMoney
        var vendor_id: String?
    }

    struct FlexMoney: Decodable {
        var value: Decimal
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Decimal.self) { value = d; return }
            value = Decimal(string: try c.decode(String.self)) ?? 0
        }
    }
}

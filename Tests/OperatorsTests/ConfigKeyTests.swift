import Domain
import Foundation
import Testing
@testable import Operators

/// Every key a pipeline file accepts does what it says: for each, two pipelines that differ only in
/// that key behave differently on the same input, as the key's documentation says.
@Suite struct ConfigKeyTests {
    /// A pipeline with one operator of `type` reading the source, `extra` lines added to it.
    static func pipeline(_ type: String, _ extra: String = "", sinks: String = "") throws -> PipelineConfig {
        try PipelineConfig.parse("""
            pipeline: keys
            sources:
              - name: events
                type: file
            operators:
              - name: op
                type: \(type)
                input: events
            \(extra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            \(sinks)
            """, file: "keys.yaml")
    }

    /// Runs events through a runner of `config` (the batch, then the end of input).
    static func run(_ config: PipelineConfig, _ batches: [[Timestamped<Event>]]) throws -> PipelineRunner {
        let r = try PipelineRunner(config: config)
        for b in batches { r.process(partition: 0, events: b, now: 0) }
        r.finish()
        return r
    }

    static func usage(_ id: String, _ minute: Int, _ amount: Double) -> Timestamped<Event> {
        let t = O.at(minute)
        return Timestamped(time: t, value: Event(eventID: id, type: .usageRecorded, time: t, tenantID: "t", correlationID: nil,
                                                 payload: .usageRecorded(UsageRecorded(resource: .apiCalls, amount: amount))))
    }

    @Test func quotaSoftLimitPercent() throws {
        // A basic tenant's api_calls limit is 1000: 600 calls are under 80 % but over 50 %.
        let events = [Self.usage("u1", 0, 300), Self.usage("u2", 1, 300)]
        func warnings(_ extra: String) throws -> Int {
            let r = try Self.run(try Self.pipeline("quota", extra), [events])
            return r.rows["op"]!.filter { $0["event_type"] == .string("quota.warning") }.count
        }
        #expect(try warnings("") == 0)
        #expect(try warnings("soft_limit_percent: 80") == 0)
        #expect(try warnings("soft_limit_percent: 50") == 1)
    }

    @Test func orderLifecycleHoldUnknownOrders() throws {
        // The confirmation (cash order) arrives first; its order.created, a minute older, arrives
        // after the watermark has passed the confirmation but within the allowed lateness.
        let confirmed = O.confirmed("e2", 1)
        let created = O.created("e1", 0, .cash)
        let pushWatermark = O.ev("e3", 5, .orderCreated(OrderCreated(orderID: "B", customerID: "c", items: [OrderItem(productID: "p", quantity: 1, unitPrice: Money(cents: 100))], subtotal: Money(cents: 100), deliveryFee: .zero, tax: .zero, discount: .zero, totalAmount: Money(cents: 100), paymentMethod: .cash)), order: "B")
        func outcome(_ extra: String) throws -> [String] {
            let config = try Self.pipeline("order_lifecycle", extra)
            let r = try PipelineRunner(config: config)
            r.process(partition: 0, events: [confirmed, pushWatermark], now: 0)
            r.tick(now: 1) // the watermark passes the confirmation (5 min − 30 s out-of-orderness)
            r.process(partition: 0, events: [created], now: 2)
            r.finish()
            return r.rows["op"]!.filter { $0["data.order_id"] == .string("A") }.map { row in
                "\(row["event_type"]!.description):\(row["data.to"]?.description ?? row["data.reason"]?.description ?? "")"
            }
        }
        // Held: the late order.created comes first in event time, then the confirmation applies.
        #expect(try outcome("") == ["order.status_changed:pending", "order.status_changed:confirmed"])
        #expect(try outcome("hold_unknown_orders: true") == ["order.status_changed:pending", "order.status_changed:confirmed"])
        // Not held: rejected as soon as the watermark passed it.
        #expect(try outcome("hold_unknown_orders: false") == ["order.transition_rejected:order_unknown", "order.status_changed:pending"])
    }

    @Test func rollupTimezone() throws {
        // An order at 23:00 UTC is on 1 March in UTC and on 2 March in Johannesburg (UTC+2).
        let t = ms("2026-03-01T23:00:00Z")
        let order = Timestamped(time: t, value: Event(eventID: "e1", type: .orderCreated, time: t, tenantID: "t", correlationID: nil,
            payload: .orderCreated(OrderCreated(orderID: "A", customerID: "c", items: [OrderItem(productID: "p", quantity: 1, unitPrice: Money(cents: 100))], subtotal: Money(cents: 100), deliveryFee: .zero, tax: .zero, discount: .zero, totalAmount: Money(cents: 100), paymentMethod: .cash))))
        func dayStart(_ extra: String) throws -> String? {
            let r = try Self.run(try Self.pipeline("rollup", "granularities: [day]\n" + extra), [[order]])
            return r.drainReadModels().first { $0.table == "rollup_daily" }?.row["bucket_start"]?.description
        }
        #expect(try dayStart("") == "2026-03-01T22:00:00.000Z")           // the tenant's zone (default Johannesburg)
        #expect(try dayStart("timezone: tenant") == "2026-03-01T22:00:00.000Z")
        #expect(try dayStart("timezone: UTC") == "2026-03-01T00:00:00.000Z")
        #expect(throws: ConfigErrors.self) { try Self.pipeline("rollup", "granularities: [day]\ntimezone: Mars/Olympus") }
    }

    @Test func postgresSinkInputsChooseTheReadModels() throws {
        let events = [Self.usage("u1", 0, 300)]
        func tables(_ inputs: String) throws -> Set<String> {
            let config = try Self.pipeline("quota", "", sinks: """
                sinks:
                  - name: pg
                    type: postgres
                    url: postgresql:///x
                    inputs: [\(inputs)]
                """)
            let r = try PipelineRunner(config: config)
            r.readModelInputs = Set(config.sinks[0].inputs)
            r.process(partition: 0, events: events, now: 0)
            r.finish()
            return Set(r.drainReadModels().map(\.table))
        }
        let all = try tables("op")
        #expect(all == ["tenants", "tenant_usage"], "\(all)")
        // A source has no read model: the file is refused, naming what the sink takes.
        #expect { try tables("events") } throws: { e in
            "\(e)".contains("sinks[0].inputs[0]: 'events' is a source, which a postgres sink cannot take")
        }
    }
}

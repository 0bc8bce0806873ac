import Domain
import Foundation
import Ingest
import Testing
@testable import Operators

/// The read-model rows operators hand to the Postgres sink: drained at every batch (checkpoints
/// as often as possible) and folded by primary key, they equal one drain at the end; and they say
/// what the stream says.
@Suite struct ReadModelDrainTests {
    static let keys: [String: [String]] = [
        "tenants": ["tenant_id"], "orders": ["tenant_id", "order_id"], "order_status_history": ["tenant_id", "order_id", "seq"],
        "order_transition_rejections": ["event_id"], "deliveries": ["tenant_id", "delivery_id"], "tenant_usage": ["tenant_id", "resource"],
        "rollup_hourly": ["tenant_id", "bucket_start"], "rollup_daily": ["tenant_id", "bucket_start"],
        "rollup_products": ["tenant_id", "granularity", "bucket_start", "product_id"],
        "rollup_payments": ["tenant_id", "granularity", "bucket_start", "gateway", "method"],
        "rollup_deliveries": ["tenant_id", "granularity", "bucket_start"],
        "rollup_messages": ["tenant_id", "granularity", "bucket_start", "type"],
        "rollup_customers": ["tenant_id", "granularity", "bucket_start"],
    ]

    /// Rows folded as a database would hold them: table → key → row.
    static func fold(_ rows: [ReadModelRow], into db: inout [String: [[String]: OutputRow]]) {
        for r in rows {
            let key = keys[r.table]!.map { r.row[$0]?.description ?? "" }
            db[r.table, default: [:]][key] = r.row
        }
    }

    @Test func drainsAtEveryBatchEqualOneDrainAtTheEnd() throws {
        let config = try PipelineConfig.load(path: RunnerTests.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        let decoder = EventDecoder()
        let events = DomainDeterminismTests.stream.compactMap { r -> Timestamped<Event>? in
            guard case .success(let e) = decoder.decode(r.value) else { return nil }
            return Timestamped(time: e.time, value: e)
        }
        let often = try PipelineRunner(config: config), once = try PipelineRunner(config: config)
        var a: [String: [[String]: OutputRow]] = [:], b: [String: [[String]: OutputRow]] = [:]
        for start in stride(from: 0, to: events.count, by: 300) {
            let batch = Array(events[start..<min(start + 300, events.count)])
            often.process(partition: 0, events: batch, now: 0)
            once.process(partition: 0, events: batch, now: 0)
            Self.fold(often.drainReadModels(), into: &a)
        }
        often.finish(); once.finish()
        Self.fold(often.drainReadModels(), into: &a)
        Self.fold(once.drainReadModels(), into: &b)
        #expect(Set(a.keys) == Set(Self.keys.keys))
        for t in Self.keys.keys.sorted() { #expect(a[t] == b[t], "\(t)") }
        #expect(once.drainReadModels().isEmpty) // drained means drained

        // What the stream says: every created order is there with its last status; every
        // completed delivery is `completed`.
        var created = Set<[String]>(), completed = Set<[String]>()
        for e in events {
            if case .orderCreated(let o) = e.value.payload { created.insert([e.value.tenantID, o.orderID]) }
            if case .deliveryCompleted(let d) = e.value.payload { completed.insert([e.value.tenantID, d.deliveryID]) }
        }
        #expect(Set(a["orders"]!.keys) == created)
        var lastStatus: [[String]: String] = [:]
        for case .event(let d) in once.outputs.flatMap({ $0 }) where d.type == "order.status_changed" {
            if case .string(let id)? = d.data.first(where: { $0.0 == "order_id" })?.1, case .string(let to)? = d.data.first(where: { $0.0 == "to" })?.1 {
                lastStatus[[d.tenantID, id]] = to
            }
        }
        for (k, row) in a["orders"]! { #expect(row["status"]?.description == lastStatus[k], "\(k)") }
        #expect(completed.count > 20)
        for key in completed { #expect(a["deliveries"]![key]?["status"]?.description == "completed", "\(key)") }
    }
}

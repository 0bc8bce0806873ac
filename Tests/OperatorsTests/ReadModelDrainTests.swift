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
            // A window_aggregate's rows (when a sink keeps them) are keyed by key and window.
            guard let k = keys[r.table] ?? (r.table == "orders_per_hour" ? ["key", "window_start", "window_end"] : nil) else {
                Issue.record("unexpected table \(r.table)"); continue
            }
            let key = k.map { r.row[$0]?.description ?? "" }
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

    /// Retention (state that can no longer change leaves memory once drained) changes no
    /// read-model row: a runner with it — drained at every batch, snapshotted and restored
    /// every five batches — folds to exactly the rows of one without it, while it held far fewer orders and
    /// buckets on the way (ended orders retire after the allowed lateness here, not 7 days).
    @Test func retentionChangesNoReadModelRow() throws {
        var config = try PipelineConfig.load(path: RunnerTests.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        for i in config.operators.indices { config.operators[i].params.removeAll { $0.0 == "retain_ended" } }
        let records = DomainDeterminismTests.stream.map(\.value)
        func feed(_ r: PipelineRunner, _ batch: ArraySlice<[UInt8]>, from start: Int) {
            // Raw records (the path that dead-letters events of retired state), offsets = positions.
            r.process(partition: 0, records: batch, firstOffset: Int64(start), now: 0)
        }
        let names = Set(config.operators.map(\.name))
        var retaining = try PipelineRunner(config: config)
        retaining.enableRetention(for: names)
        let keeping = try PipelineRunner(config: config)
        var a: [String: [[String]: OutputRow]] = [:], b: [String: [[String]: OutputRow]] = [:]
        var fewest = (held: Int.max, kept: 0), restores = 0
        var lettersA: [DeadLetter] = [], lettersB: [DeadLetter] = []
        for (n, start) in stride(from: 0, to: records.count, by: 300).enumerated() {
            let batch = records[start..<min(start + 300, records.count)]
            feed(retaining, batch, from: start)
            feed(keeping, batch, from: start)
            Self.fold(retaining.drainReadModels(), into: &a)
            lettersA += retaining.drainDeadLetters()
            lettersB += keeping.drainDeadLetters()
            if n % 5 == 4 {
                let copy = try PipelineRunner(config: config)
                copy.enableRetention(for: names)
                try copy.restore(try retaining.snapshot())
                retaining = copy
                restores += 1
            }
            let held = Dictionary(uniqueKeysWithValues: retaining.counters)["orders.orders"]!
            let kept = Dictionary(uniqueKeysWithValues: keeping.counters)["orders.orders"]!
            if start > records.count * 3 / 4, held < fewest.held { fewest = (held, kept) }
        }
        #expect(restores > 10)
        let retired = Dictionary(uniqueKeysWithValues: retaining.counters)
        #expect(retired["orders.retired_orders"]! > 50, "\(retired)")
        #expect(retired["rollups.retired_orders"]! > 50, "\(retired)")
        #expect(fewest.held * 2 < fewest.kept, "held \(fewest.held) orders, vs \(fewest.kept) without retention")
        #expect(retired["rollups.buckets"]! * 2 < Dictionary(uniqueKeysWithValues: keeping.counters)["rollups.buckets"]!)
        retaining.finish(); keeping.finish()
        Self.fold(retaining.drainReadModels(), into: &a)
        Self.fold(keeping.drainReadModels(), into: &b)
        // Events of retired orders (e.g. a refund days after completion) are dead letters, late,
        // naming why; their orders' rows are the only ones that may differ.
        lettersA += retaining.drainDeadLetters()
        lettersB += keeping.drainDeadLetters()
        let retiredLetters = lettersA.filter { $0.detail.contains("retired") }
        #expect(lettersA.count == lettersB.count + retiredLetters.count)
        #expect(retiredLetters.allSatisfy { $0.reason == .lateEvent })
        var affected = Set<[String]>()
        for d in retiredLetters {
            if case .success(let e) = d.record.withUnsafeBytes({ EventDecoder().decode($0) }), let o = e.orderID { affected.insert([e.tenantID, o]) }
        }
        for t in ["orders", "order_status_history"] {
            for k in Set(a[t]!.keys).union(b[t]!.keys) where a[t]![k] != b[t]![k] {
                #expect(affected.contains(Array(k.prefix(2))), "\(t) \(k) differs without a retired event")
            }
            // Compared above: the rest must be equal.
            a[t] = a[t]!.filter { !affected.contains(Array($0.key.prefix(2))) }
            b[t] = b[t]!.filter { !affected.contains(Array($0.key.prefix(2))) }
        }
        print("retention: \(retiredLetters.count) event(s) of retired orders dead-lettered as late")
        for t in Self.keys.keys.sorted() {
            let diff = Set((a[t] ?? [:]).keys).union((b[t] ?? [:]).keys).filter { a[t]?[$0] != b[t]?[$0] }.sorted { $0.lexicographicallyPrecedes($1) }
            #expect(diff.isEmpty, "\(t): \(a[t]?.count ?? 0) vs \(b[t]?.count ?? 0) rows, \(diff.count) differ; first \(diff.first.map { "\($0): \(a[t]?[$0]?.json ?? "none") vs \(b[t]?[$0]?.json ?? "none")" } ?? "")")
        }
    }
}

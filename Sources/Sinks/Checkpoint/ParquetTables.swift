import Domain
import Foundation
import Operators

/// The Parquet tables (CONTRACT §3.4): `events` (every accepted, deduplicated event: ids and
/// amounts as columns, the JSON as it arrived), `order_facts` and `order_items` (from
/// `order.created`). Hive-style partitions by the event's UTC date:
/// `<root>/<table>/date=YYYY-MM-DD/part-<checkpoint>-<worker>.parquet`.
public enum ParquetTables {
    public static let events: [ParquetColumn] = [
        ParquetColumn("event_id", .string), ParquetColumn("event_type", .string), ParquetColumn("tenant_id", .string),
        ParquetColumn("event_time", .timestampMillis), ParquetColumn("version", .string),
        ParquetColumn("correlation_id", .string, optional: true), ParquetColumn("causation_id", .string, optional: true),
        ParquetColumn("order_id", .string, optional: true), ParquetColumn("payment_id", .string, optional: true),
        ParquetColumn("delivery_id", .string, optional: true), ParquetColumn("driver_id", .string, optional: true),
        ParquetColumn("customer_id", .string, optional: true), ParquetColumn("amount_cents", .int64, optional: true),
        ParquetColumn("raw", .string, streamed: true),
    ]

    public static let orderFacts: [ParquetColumn] = [
        ParquetColumn("tenant_id", .string), ParquetColumn("order_id", .string), ParquetColumn("customer_id", .string),
        ParquetColumn("created_at", .timestampMillis), ParquetColumn("subtotal_cents", .int64), ParquetColumn("delivery_fee_cents", .int64),
        ParquetColumn("tax_cents", .int64), ParquetColumn("discount_cents", .int64), ParquetColumn("total_cents", .int64),
        ParquetColumn("payment_method", .string), ParquetColumn("source", .string, optional: true), ParquetColumn("items", .int32),
        ParquetColumn("item_quantity", .int64), ParquetColumn("event_id", .string),
    ]

    public static let orderItems: [ParquetColumn] = [
        ParquetColumn("tenant_id", .string), ParquetColumn("order_id", .string), ParquetColumn("line", .int32),
        ParquetColumn("product_id", .string), ParquetColumn("name", .string, optional: true), ParquetColumn("quantity", .int64),
        ParquetColumn("unit_price_cents", .int64), ParquetColumn("line_total_cents", .int64),
        ParquetColumn("vendor_id", .string, optional: true), ParquetColumn("created_at", .timestampMillis),
    ]

    /// The columns of a `window_aggregate` operator's table.
    public static func windowColumns(sums: Bool) -> [ParquetColumn] {
        [ParquetColumn("key", .string), ParquetColumn("window_start", .timestampMillis), ParquetColumn("window_end", .timestampMillis),
         ParquetColumn("count", .int64)] + (sums ? [ParquetColumn("sum", .int64)] : []) + [ParquetColumn("update", .boolean)]
    }

    /// A table's columns by its name (nil: not one of these tables).
    public static func columns(of table: String) -> [ParquetColumn]? {
        switch table {
        case "events": return events
        case "order_facts": return orderFacts
        case "order_items": return orderItems
        default: return nil
        }
    }

    /// A written file: where, which table, how many rows and bytes.
    public struct File: Sendable, Equatable {
        public var path: String
        public var table: String
        public var rows: Int64
        public var bytes: Int64
    }

    /// One checkpoint's files, filled as events arrive (Flink's in-progress part files): rows go
    /// to the open file of their table and UTC day, each file's row groups are encoded and
    /// written as they fill, so what waits for the checkpoint is at most one row group per open
    /// file, not the checkpoint's events. ``close()`` finishes them (footer, fsync, rename); until
    /// then they exist only under temporary names, which a restart removes.
    public final class Appender: @unchecked Sendable { // used by one thread at a time: filled by the worker, closed by the writer
        let root: String
        public let checkpoint: Int64
        let worker: Int
        let rowGroupRows: Int
        private var open: [String: (table: String, writer: ParquetWriter)] = [:]
        /// Rows appended so far.
        public private(set) var rows = 0

        /// Rows per row group unless the parquet sink's `row_group_rows` says otherwise: one page
        /// of each column (a page ends at 20,000 rows), so an open file holds at most that many
        /// rows of its columns uncompressed. At 100,000 the `events` files' text columns were half
        /// of `replay --sinks`' live heap (session 9: peak RSS of the week 220–238 → 166–169 MB,
        /// 7 % faster, files +0.1 %).
        public static let defaultRowGroupRows = 20_000

        public init(root: String, checkpoint: Int64, worker: Int, rowGroupRows: Int = Appender.defaultRowGroupRows) {
            self.root = root; self.checkpoint = checkpoint; self.worker = worker; self.rowGroupRows = rowGroupRows
        }

        private func writer(_ table: String, _ columns: [ParquetColumn], date: Substring) throws -> ParquetWriter {
            let path = "\(root)/\(table)/date=\(date)/part-\(checkpoint)-\(worker).parquet"
            if let w = open[path] { return w.writer }
            let w = try ParquetWriter(path: path, columns: columns, rowGroupRows: rowGroupRows)
            open[path] = (table, w)
            return w
        }

        /// Adds the `events` rows (and `order_facts`/`order_items` for `order.created`); `raw`
        /// gives an event's JSON as it arrived (valid UTF-8: the decoder accepted it). Cells go
        /// straight into the columns (``ParquetWriter/put(_:_:)-(Int,String)``), no row array.
        public func append(_ events: [Timestamped<Event>], raw: RawRecords) throws {
            var lastDay = Int64.min
            var date: Substring = ""
            var eventsFile: ParquetWriter?, factsFile: ParquetWriter?, itemsFile: ParquetWriter?
            var reader = raw.reader
            for t in events {
                let e = t.value
                let day = floorDiv(t.time, 86_400_000).quotient
                if day != lastDay {
                    // The day's files, looked up once per run of events of one day (not per row).
                    lastDay = day
                    date = RFC3339.format(day * 86_400_000).prefix(10)
                    eventsFile = try writer("events", ParquetTables.events, date: date)
                    factsFile = nil; itemsFile = nil
                }
                let w = eventsFile!
                let ids = ParquetTables.mainIDs(e)
                w.put(0, e.eventID); w.put(1, e.type.rawValue); w.put(2, e.tenantID); w.put(3, e.time)
                w.put(4, ParquetTables.version(e.minorVersion)); w.put(5, e.correlationID); w.put(6, e.causationID)
                w.put(7, e.orderID); w.put(8, ids.payment); w.put(9, ids.delivery); w.put(10, ids.driver)
                w.put(11, ids.customer); w.put(12, ids.amount)
                reader.withRecord(e.eventID) { w.put(13, utf8: $0) }
                try w.endRow()
                rows += 1
                guard case .orderCreated(let o) = e.payload else { continue }
                if factsFile == nil {
                    factsFile = try writer("order_facts", ParquetTables.orderFacts, date: date)
                    itemsFile = try writer("order_items", ParquetTables.orderItems, date: date)
                }
                let f = factsFile!
                f.put(0, e.tenantID); f.put(1, o.orderID); f.put(2, o.customerID); f.put(3, e.time)
                f.put(4, o.subtotal.cents); f.put(5, o.deliveryFee.cents); f.put(6, o.tax.cents); f.put(7, o.discount.cents)
                f.put(8, o.totalAmount.cents); f.put(9, o.paymentMethod.rawValue); f.put(10, o.source?.rawValue)
                f.put(11, Int64(o.items.count)); f.put(12, o.itemCount); f.put(13, e.eventID)
                try f.endRow()
                let it = itemsFile!
                for (i, item) in o.items.enumerated() {
                    it.put(0, e.tenantID); it.put(1, o.orderID); it.put(2, Int64(i + 1)); it.put(3, item.productID)
                    it.put(4, item.name); it.put(5, item.quantity); it.put(6, item.unitPrice.cents); it.put(7, item.lineTotal.cents)
                    it.put(8, item.vendorID); it.put(9, e.time)
                    try it.endRow()
                }
            }
        }

        /// Adds a `window_aggregate` operator's rows to its table (`<root>/<table>/date=…`, the
        /// UTC date of the window's start): key, window_start, window_end, count, sum (when it
        /// sums), update (a re-firing within the allowed lateness: the latest row of a window wins).
        public func appendWindowRows(table: String, sums: Bool, _ results: [StageResult]) throws {
            let columns = ParquetTables.windowColumns(sums: sums)
            for case .row(let r) in results {
                guard case .time(let start)? = r["window_start"], case .time(let end)? = r["window_end"],
                      case .string(let key)? = r["key"], case .int(let count)? = r["count"] else { continue }
                let date = RFC3339.format(floorDiv(start, 86_400_000).quotient * 86_400_000).prefix(10)
                var row: [ParquetValue] = [.string(key), .int(start), .int(end), .int(count)]
                if sums { if case .int(let sum)? = r["sum"] { row.append(.int(sum)) } else { row.append(.int(0)) } }
                if case .bool(let u)? = r["update"] { row.append(.bool(u)) } else { row.append(.bool(false)) }
                try writer(table, columns, date: date).append(row)
                rows += 1
            }
        }

        /// Finishes every file (their last row groups encoded and compressed on the cores side
        /// by side) and returns them in path order.
        public func close() throws -> [File] {
            let paths = open.keys.sorted()
            let list = paths.map { open[$0]! }
            let files = try sideBySide(list.count) { i -> File in
                let (table, w) = list[i]
                let rows = w.rows
                let bytes = try w.close()
                return File(path: paths[i], table: table, rows: rows, bytes: bytes)
            }
            open = [:]
            return files
        }

        /// Gives up: the temporary files are removed.
        public func abandon() {
            for (_, w) in open { w.writer.abandon() }
            open = [:]
        }
    }

    private static func str(_ s: String?) -> ParquetValue { s.map { .string($0) } ?? .null }

    /// The `version` column's text for a minor version ("1.0", "1.1", …), made once.
    static func version(_ minor: Int) -> String {
        minor >= 0 && minor < versions.count ? versions[minor] : "1.\(minor)"
    }
    private static let versions = (0..<10).map { "1.\($0)" }

    /// An `events` row as values (the same cells ``Appender/append(_:raw:)`` puts).
    public static func eventRow(_ e: Event, raw: [UInt8]?) -> [ParquetValue] {
        let ids = mainIDs(e)
        let text = raw.flatMap { String(validating: $0, as: UTF8.self) } ?? ""
        return [.string(e.eventID), .string(e.type.rawValue), .string(e.tenantID), .int(e.time),
                .string(version(e.minorVersion)), str(e.correlationID), str(e.causationID), str(e.orderID),
                str(ids.payment), str(ids.delivery), str(ids.driver), str(ids.customer),
                ids.amount.map { .int($0) } ?? .null, .string(text)]
    }

    /// The ids and amount an event carries besides its order id.
    static func mainIDs(_ e: Event) -> (payment: String?, delivery: String?, driver: String?, customer: String?, amount: Int64?) {
        switch e.payload {
        case .orderCreated(let o): return (nil, nil, nil, o.customerID, o.totalAmount.cents)
        case .paymentInitiated(let p): return (p.paymentID, nil, nil, nil, p.amount.cents)
        case .paymentSucceeded(let p): return (p.paymentID, nil, nil, nil, p.amount.cents)
        case .paymentFailed(let p): return (p.paymentID, nil, nil, nil, nil)
        case .paymentRefunded(let p): return (p.paymentID, nil, nil, nil, p.amount.cents)
        case .deliveryAssigned(let d): return (nil, d.deliveryID, d.driverID, nil, nil)
        case .deliveryPickedUp(let d): return (nil, d.deliveryID, d.driverID, nil, nil)
        case .deliveryCompleted(let d): return (nil, d.deliveryID, d.driverID, nil, nil)
        case .deliveryCancelled(let d): return (nil, d.deliveryID, nil, nil, nil)
        case .orderPickedUp(let o): return (nil, o.deliveryID, nil, nil, nil)
        case .driverLocationUpdated(let l): return (nil, nil, l.driverID, nil, nil)
        default: return (nil, nil, nil, nil, nil)
        }
    }
}

import Domain
import Foundation

/// A record that was not accepted, kept byte for byte with why and where (CONTRACT §1).
public struct DeadLetter: Sendable, Equatable {
    public var record: [UInt8]
    public var reason: RejectReason
    public var detail: String
    public var source: String
    public var partition: Int
    public var offset: Int64

    public init(record: [UInt8], reason: RejectReason, detail: String, source: String, partition: Int, offset: Int64) {
        self.record = record; self.reason = reason; self.detail = detail
        self.source = source; self.partition = partition; self.offset = offset
    }

    /// The `dlq/` NDJSON line: reason, detail, source, partition, offset, and the record itself —
    /// as a JSON string when it is UTF-8, else base64 (`record_base64`), so nothing is altered.
    public var json: String {
        var fields: [(String, OutputValue)] = [("reason", .string(reason.rawValue)), ("detail", .string(detail)),
                                               ("source", .string(source)), ("partition", .int(Int64(partition))),
                                               ("offset", .int(offset))]
        if let text = String(validating: record, as: UTF8.self) {
            fields.append(("record", .string(text)))
        } else {
            fields.append(("record_base64", .string(Data(record).base64EncodedString())))
        }
        return OutputRow(fields).json
    }
}

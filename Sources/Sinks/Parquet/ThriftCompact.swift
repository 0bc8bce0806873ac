/// Thrift's compact protocol, write side only — what Parquet's page headers and footer need.
/// (No maintained Swift Thrift library is in the machine's package list, and the subset is small:
/// structs, i32/i64/bool/binary fields, lists.)
struct ThriftWriter {
    enum WireType: UInt8 {
        case boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7, binary = 8, list = 9, set = 10, map = 11, `struct` = 12
    }

    private(set) var bytes: [UInt8] = []
    private var lastField: [Int16] = [0]

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    private mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    private mutating func fieldHeader(_ id: Int16, _ type: WireType) {
        let delta = Int(id) - Int(lastField[lastField.count - 1])
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            zigzag(Int64(id))
        }
        lastField[lastField.count - 1] = id
    }

    mutating func i32(_ id: Int16, _ v: Int32) { fieldHeader(id, .i32); zigzag(Int64(v)) }
    mutating func i64(_ id: Int16, _ v: Int64) { fieldHeader(id, .i64); zigzag(v) }
    mutating func bool(_ id: Int16, _ v: Bool) { fieldHeader(id, v ? .boolTrue : .boolFalse) }
    mutating func binary(_ id: Int16, _ v: [UInt8]) { fieldHeader(id, .binary); varint(UInt64(v.count)); bytes += v }
    mutating func string(_ id: Int16, _ v: String) { binary(id, Array(v.utf8)) }

    /// A struct field: `body` writes its fields.
    mutating func `struct`(_ id: Int16, _ body: (inout ThriftWriter) -> Void) {
        fieldHeader(id, .struct)
        structBody(body)
    }

    /// A struct's fields and its stop byte (for list elements and the top level).
    mutating func structBody(_ body: (inout ThriftWriter) -> Void) {
        lastField.append(0)
        body(&self)
        bytes.append(0) // stop
        lastField.removeLast()
    }

    private mutating func listHeader(_ id: Int16, _ element: WireType, _ count: Int) {
        fieldHeader(id, .list)
        if count < 15 { bytes.append(UInt8(count) << 4 | element.rawValue) } else {
            bytes.append(0xF0 | element.rawValue)
            varint(UInt64(count))
        }
    }

    mutating func listI32(_ id: Int16, _ values: [Int32]) {
        listHeader(id, .i32, values.count)
        for v in values { zigzag(Int64(v)) }
    }

    mutating func listString(_ id: Int16, _ values: [String]) {
        listHeader(id, .binary, values.count)
        for v in values { let b = Array(v.utf8); varint(UInt64(b.count)); bytes += b }
    }

    mutating func listStruct<T>(_ id: Int16, _ values: [T], _ body: (inout ThriftWriter, T) -> Void) {
        listHeader(id, .struct, values.count)
        for v in values { structBody { body(&$0, v) } }
    }
}

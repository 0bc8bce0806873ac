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

/// A Thrift compact-protocol value as read (`ThriftReader`): enough to read back the Parquet
/// footers ``ParquetWriter`` writes (for ``ParquetWriter/appendRowGroups(of:)``).
indirect enum ThriftValue {
    case bool(Bool), int(Int64), double(Double), binary([UInt8])
    case list([ThriftValue]), `struct`([Int16: ThriftValue])

    subscript(_ field: Int16) -> ThriftValue? {
        if case .struct(let f) = self { return f[field] }
        return nil
    }
    var int: Int64? { if case .int(let v) = self { return v }; return nil }
    var binary: [UInt8]? { if case .binary(let v) = self { return v }; return nil }
    var list: [ThriftValue] { if case .list(let v) = self { return v }; return [] }
}

/// Reads Thrift compact-protocol structs (a file footer: untrusted bytes, so every length and
/// nesting is checked and a bad one throws).
struct ThriftReader {
    let bytes: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private mutating func byte() throws -> UInt8 {
        guard i < bytes.count else { throw ParquetError("a truncated Thrift footer") }
        defer { i += 1 }
        return bytes[i]
    }

    private mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw ParquetError("a Thrift varint over 64 bits") }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    private mutating func zigzag() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    /// A struct whose fields start at the cursor (through its stop byte).
    mutating func readStruct(depth: Int = 0) throws -> ThriftValue {
        guard depth < 32 else { throw ParquetError("a Thrift footer nested too deeply") }
        var fields: [Int16: ThriftValue] = [:]
        var last: Int16 = 0
        while true {
            let head = try byte()
            if head == 0 { return .struct(fields) }
            let type = head & 0x0F, delta = head >> 4
            let id: Int16
            if delta != 0 { id = last &+ Int16(delta) } else {
                let z = try zigzag()
                guard let v = Int16(exactly: z) else { throw ParquetError("a Thrift field id out of range") }
                id = v
            }
            last = id
            fields[id] = try value(type, depth: depth)
        }
    }

    private mutating func value(_ type: UInt8, depth: Int) throws -> ThriftValue {
        switch type {
        case 1: return .bool(true)
        case 2: return .bool(false)
        case 3: return .int(Int64(Int8(bitPattern: try byte())))
        case 4, 5, 6: return .int(try zigzag())
        case 7:
            guard i + 8 <= bytes.count else { throw ParquetError("a truncated Thrift footer") }
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            i += 8
            return .double(Double(bitPattern: bits))
        case 8:
            let n = Int(try varint())
            guard n <= bytes.count - i else { throw ParquetError("a Thrift binary past the footer's end") }
            defer { i += n }
            return .binary(Array(bytes[i..<(i + n)]))
        case 9, 10:
            let head = try byte()
            var n = Int(head >> 4)
            if n == 15 { n = Int(try varint()) }
            guard n <= bytes.count - i else { throw ParquetError("a Thrift list longer than the footer") }
            let element = head & 0x0F
            var out: [ThriftValue] = []
            out.reserveCapacity(n)
            for _ in 0..<n {
                // In lists a bool is one byte (1 true, 2 false), not a field type.
                if element == 1 || element == 2 { out.append(.bool(try byte() == 1)); continue }
                out.append(try value(element, depth: depth + 1))
            }
            return .list(out)
        case 12: return try readStruct(depth: depth + 1)
        default: throw ParquetError("Thrift type \(type) is not read here")
        }
    }
}

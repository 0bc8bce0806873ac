#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Ingest

/// Reads back, a row group at a time, the values of a file ``ParquetWriter`` wrote: flat
/// columns, v1 data pages, PLAIN or dictionary (RLE_DICTIONARY) values, RLE/bit-packed
/// definition levels, zstd. What compaction needs to re-encode part files whose row groups are
/// small (a checkpoint's worth of rows: 100-row groups make DuckDB's scan ~70× slower than 20,000-row
/// ones, `BENCHMARKS.md`). Why ours: no Swift Parquet library exists (see ``ParquetWriter``); the
/// footer is read with ``ThriftReader``. Untrusted input throws, never crashes.
final class ParquetRowGroupReader {
    /// One column chunk's values: integers (int32, int64, timestamps) or text, nil for null.
    enum Values {
        case ints([Int64?])
        /// The text values' bytes back to back, and each row's range in them (nil: null).
        case text(bytes: [UInt8], ranges: [Range<Int>?])
    }

    let path: String
    let columns: [ParquetColumn]
    private let fd: Int32
    private let size: Int
    /// The footer's row groups.
    let rowGroups: [ThriftValue]
    /// Where the pages end (the footer starts).
    let dataEnd: Int

    init(path: String, columns: [ParquetColumn]) throws {
        self.path = path
        self.columns = columns
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ParquetError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { Glibc.close(fd); throw ParquetError("cannot stat \(path)") }
        size = Int(st.st_size)
        do {
            let footer = try ParquetFooter.read(fd: fd, size: size, path: path, columns: columns)
            rowGroups = footer.meta[4]?.list ?? []
            dataEnd = footer.dataEnd
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { Glibc.close(fd) }

    /// `n` bytes of the file from `at`, as stored (pages compressed).
    func bytes(at: Int, count n: Int) throws -> [UInt8] { try ParquetFooter.pread(fd, at, n, path) }

    /// Row group `g`'s rows and its columns' values.
    func read(_ g: Int) throws -> (rows: Int, columns: [Values]) {
        guard g < rowGroups.count, let n = rowGroups[g][3]?.int, n >= 0, n < 1 << 31 else { throw ParquetError("\(path): no row group \(g)") }
        let chunks = rowGroups[g][1]?.list ?? []
        guard chunks.count == columns.count else { throw ParquetError("\(path): row group \(g) has \(chunks.count) columns") }
        return (Int(n), try zip(columns, chunks).map { try chunk($0, $1, rows: Int(n)) })
    }

    private func chunk(_ c: ParquetColumn, _ cc: ThriftValue, rows: Int) throws -> Values {
        guard let md = cc[3], let data = md[9]?.int, let length = md[7]?.int else { throw ParquetError("\(path): a column chunk without its metadata") }
        let start = Int(md[11]?.int ?? data)
        guard start >= 4, length >= 0, start + Int(length) <= size else { throw ParquetError("\(path): a column chunk past the file's end") }
        let bytes = try self.bytes(at: start, count: Int(length))
        var i = 0
        var dictionary: [Range<Int>] = [], dictionaryBytes: [UInt8] = []
        var ints: [Int64?] = [], ranges: [Range<Int>?] = [], text: [UInt8] = []
        var done = 0
        while done < rows {
            var header = ThriftReader(Array(bytes[i...]))
            let h = try header.readStruct()
            i += header.i
            guard let type = h[1]?.int, let plain = h[2]?.int, let packed = h[3]?.int, packed >= 0, i + Int(packed) <= bytes.count else {
                throw ParquetError("\(path): a bad page header in column \(c.name)")
            }
            let body = try bytes.withUnsafeBytes { try Zstd.decompress(UnsafeRawBufferPointer(rebasing: $0[i..<(i + Int(packed))]), size: Int(plain)) }
            i += Int(packed)
            var at = 0
            if type == 2 { // the dictionary: PLAIN text
                dictionaryBytes = body
                let count = Int(h[7]?[1]?.int ?? 0)
                guard count >= 0, count <= body.count / 4 else { throw ParquetError("\(path): a dictionary of \(count) values in \(body.count) bytes") }
                for _ in 0..<count { dictionary.append(try Self.plainText(body, &at, path)) }
                continue
            }
            guard type == 0, let dph = h[5], let values = dph[1]?.int, let encoding = dph[2]?.int, values >= 0, values <= Int64(rows - done) else {
                throw ParquetError("\(path): page type \(type) in column \(c.name) is not read here")
            }
            let count = Int(values)
            var defined = [Bool](repeating: true, count: count)
            if c.optional {
                guard at + 4 <= body.count else { throw ParquetError("\(path): truncated levels") }
                let n = Int(body[at]) | Int(body[at + 1]) << 8 | Int(body[at + 2]) << 16 | Int(body[at + 3]) << 24
                at += 4
                guard n <= body.count - at else { throw ParquetError("\(path): levels past the page") }
                var j = at
                defined = try Self.hybrid(body, &j, end: at + n, width: 1, count: count, path).map { $0 == 1 }
                at += n
            }
            let present = defined.reduce(0) { $0 + ($1 ? 1 : 0) }
            switch (c.kind, encoding) {
            case (.int64, 0), (.timestampMillis, 0), (.int32, 0):
                let w = c.kind == .int32 ? 4 : 8
                guard present * w <= body.count - at else { throw ParquetError("\(path): values past the page in \(c.name)") }
                for d in defined {
                    guard d else { ints.append(nil); continue }
                    var v: UInt64 = 0
                    for k in 0..<w { v |= UInt64(body[at + k]) << (8 * UInt64(k)) }
                    at += w
                    ints.append(w == 4 ? Int64(Int32(truncatingIfNeeded: v)) : Int64(bitPattern: v))
                }
            case (.boolean, 0): // PLAIN: bit-packed, least significant bit first; read as 0/1
                guard (present + 7) / 8 <= body.count - at else { throw ParquetError("\(path): values past the page in \(c.name)") }
                var bit = 0
                for d in defined {
                    guard d else { ints.append(nil); continue }
                    ints.append(Int64((body[at + bit / 8] >> UInt8(bit % 8)) & 1))
                    bit += 1
                }
                at += (bit + 7) / 8
            case (.string, 0):
                for d in defined {
                    guard d else { ranges.append(nil); continue }
                    let r = try Self.plainText(body, &at, path)
                    ranges.append(text.count..<(text.count + r.count))
                    text.append(contentsOf: body[r])
                }
            case (.string, 8), (.string, 2):
                guard at < body.count else { throw ParquetError("\(path): a dictionary page without its width") }
                let width = Int(body[at])
                at += 1
                let ids = try Self.hybrid(body, &at, end: body.count, width: width, count: present, path)
                var next = 0
                for d in defined {
                    guard d else { ranges.append(nil); continue }
                    let id = Int(ids[next])
                    next += 1
                    guard id < dictionary.count else { throw ParquetError("\(path): a dictionary id past the dictionary in \(c.name)") }
                    let r = dictionary[id]
                    ranges.append(text.count..<(text.count + r.count))
                    text.append(contentsOf: dictionaryBytes[r])
                }
            default:
                throw ParquetError("\(path): encoding \(encoding) of column \(c.name) (\(c.kind)) is not read here")
            }
            done += count
        }
        guard done == rows else { throw ParquetError("\(path): column \(c.name) holds \(done) values for \(rows) rows") }
        return c.kind == .string ? .text(bytes: text, ranges: ranges) : .ints(ints)
    }

    /// A PLAIN text value at `at`: its bytes' range; `at` moves past it.
    static func plainText(_ b: [UInt8], _ at: inout Int, _ path: String) throws -> Range<Int> {
        guard at + 4 <= b.count else { throw ParquetError("\(path): a truncated text value") }
        let n = Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24
        at += 4
        guard n <= b.count - at else { throw ParquetError("\(path): a text value past the page") }
        defer { at += n }
        return at..<(at + n)
    }

    /// `count` values of the RLE / bit-packing hybrid of `width` bits from `b[i..<end]`.
    static func hybrid(_ b: [UInt8], _ i: inout Int, end: Int, width: Int, count: Int, _ path: String) throws -> [UInt32] {
        guard width >= 0, width <= 32 else { throw ParquetError("\(path): a bit width of \(width)") }
        var out: [UInt32] = []
        out.reserveCapacity(count)
        func varint() throws -> Int {
            var v = 0, shift = 0
            while true {
                guard i < end, shift < 63 else { throw ParquetError("\(path): a truncated run header") }
                let x = b[i]; i += 1
                v |= Int(x & 0x7F) << shift
                if x & 0x80 == 0 { return v }
                shift += 7
            }
        }
        while out.count < count {
            let header = try varint()
            if header & 1 == 1 { // bit-packed: groups of 8 values, LSB first
                let groups = header >> 1
                // At most the values still wanted (the last group padded), all within the page.
                guard groups <= (count - out.count + 7) / 8, groups * width <= end - i else { throw ParquetError("\(path): bit-packed values past the page") }
                var acc: UInt64 = 0, bits = 0
                for _ in 0..<(groups * 8) {
                    while bits < width { acc |= UInt64(b[i]) << UInt64(bits); i += 1; bits += 8 }
                    out.append(UInt32(truncatingIfNeeded: acc & ((1 << UInt64(width)) - 1)))
                    acc >>= UInt64(width); bits -= width
                }
            } else { // a run of one value
                let run = header >> 1, bytes = (width + 7) / 8
                guard bytes <= end - i, run <= count - out.count else { throw ParquetError("\(path): a run past the page") }
                var v: UInt32 = 0
                for k in 0..<bytes { v |= UInt32(b[i + k]) << (8 * UInt32(k)) }
                i += bytes
                out.append(contentsOf: repeatElement(v, count: run))
            }
        }
        return Array(out.prefix(count))
    }
}

/// A Parquet file's footer: read, and its columns checked against those expected.
enum ParquetFooter {
    static func pread(_ fd: Int32, _ at: Int, _ n: Int, _ path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var done = 0
        while done < n {
            let r = out.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress! + done, n - done, off_t(at + done)) }
            guard r > 0 else { throw ParquetError("cannot read \(path)") }
            done += r
        }
        return out
    }

    /// The file metadata (a Thrift struct) and where the data ends (the footer's start).
    static func read(fd: Int32, size: Int, path: String, columns: [ParquetColumn]) throws -> (meta: ThriftValue, dataEnd: Int) {
        guard size >= 12, try pread(fd, 0, 4, path) == Array("PAR1".utf8) else { throw ParquetError("\(path) is not a Parquet file") }
        let tail = try pread(fd, size - 8, 8, path)
        guard Array(tail[4...]) == Array("PAR1".utf8) else { throw ParquetError("\(path) is not a Parquet file") }
        let footerLength = Int(UInt32(tail[0]) | UInt32(tail[1]) << 8 | UInt32(tail[2]) << 16 | UInt32(tail[3]) << 24)
        let dataEnd = size - 8 - footerLength
        guard footerLength > 0, dataEnd >= 4 else { throw ParquetError("\(path): a footer longer than the file") }
        var reader = ThriftReader(try pread(fd, dataEnd, footerLength, path))
        let meta = try reader.readStruct()
        // The same columns, in order, of the same types and repetition.
        let schema = meta[2]?.list ?? []
        guard schema.count == columns.count + 1 else { throw ParquetError("\(path) has \(schema.count - 1) columns, not \(columns.count)") }
        for (c, e) in zip(columns, schema.dropFirst()) {
            guard e[4]?.binary == Array(c.name.utf8), e[1]?.int == Int64(c.kind.physical), e[3]?.int == (c.optional ? 1 : 0) else {
                throw ParquetError("\(path): column \(String(decoding: e[4]?.binary ?? [], as: UTF8.self)) is not \(c.name) (\(c.kind))")
            }
        }
        return (meta, dataEnd)
    }
}

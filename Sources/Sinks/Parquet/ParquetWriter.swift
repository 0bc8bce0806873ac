#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Ingest
import Operators

/// A Parquet column: a flat, required or optional primitive.
public struct ParquetColumn: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case int64, int32, double, boolean
        /// UTF-8 text (BYTE_ARRAY, STRING logical type).
        case string
        /// INT64 milliseconds since the epoch, UTC (TIMESTAMP(MILLIS, adjusted to UTC)).
        case timestampMillis
    }

    public var name: String
    public var kind: Kind
    public var optional: Bool
    /// Required text whose pages are encoded and compressed as they fill (PLAIN, never a
    /// dictionary): for large, mostly distinct values such as raw JSON, so a row group waiting in
    /// memory holds that column's compressed pages, not its text.
    public var streamed: Bool

    public init(_ name: String, _ kind: Kind, optional: Bool = false, streamed: Bool = false) {
        self.name = name; self.kind = kind; self.optional = optional; self.streamed = streamed
    }
}

/// One cell.
public enum ParquetValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case string(String)
}

public struct ParquetError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// Writes one Parquet file of our own making: the Apache Parquet format (Thrift compact footer
/// and page headers, data pages v1, PLAIN and dictionary encodings, required and optional
/// columns, ZSTD through libzstd, row-group and column min/max statistics). Our own because no
/// Swift Parquet library exists in the machine's package list.
///
/// Rows are buffered per column; every `rowGroupRows` rows a row group is written (pages of at most
/// `pageRows` values; a streamed column's pages also end at `pageBytes`). String columns are
/// dictionary-encoded per row group when that pays (few distinct values), PLAIN otherwise. The file is written under a temporary name in the same
/// folder and renamed into place by ``close()``, after an fsync, so readers never see half a file.
public final class ParquetWriter {
    public let path: String
    public let columns: [ParquetColumn]
    let rowGroupRows: Int
    let pageRows: Int
    /// A streamed column's page is compressed once it holds this many bytes, whatever its rows:
    /// what an open file holds uncompressed stays small when a run keeps many files open (a
    /// Kafka run: one per task, day and table, until its checkpoint).
    let pageBytes: Int
    let level: Int32
    private let tempPath: String
    private var fd: Int32
    private var offset: Int64 = 0
    private let buffers: [ColumnBuffer]
    private var buffered = 0
    private var rowGroups: [RowGroupMeta] = []
    public private(set) var rows: Int64 = 0
    private var closed = false
    private let compressor: Zstd.Compressor
    private let kinds: [ParquetColumn.Kind]
    /// Streamed columns' pages so far in this row group (nil for the other columns).
    private var streams: [StreamedChunk?]
    private let streamedColumns: [Int]

    /// `level` is zstd's; 1 is pyarrow's default, about 1.5× as fast as 3 for JSON-heavy columns
    /// and, on our events, within a percent of its size.
    public init(path: String, columns: [ParquetColumn], rowGroupRows: Int = 100_000, pageRows: Int = 20_000, pageBytes: Int = 1 << 20,
                level: Int32 = 1) throws {
        guard !columns.isEmpty else { throw ParquetError("a Parquet file needs at least one column") }
        guard Set(columns.map(\.name)).count == columns.count else { throw ParquetError("column names must be unique") }
        if let c = columns.first(where: { $0.streamed && ($0.kind != .string || $0.optional) }) {
            throw ParquetError("column \(c.name): only required text can be streamed")
        }
        self.path = path
        self.columns = columns
        self.rowGroupRows = max(1, rowGroupRows)
        self.pageRows = max(1, pageRows)
        self.pageBytes = max(1, pageBytes)
        self.level = level
        compressor = Zstd.Compressor(level: level)
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        tempPath = (dir.isEmpty ? "" : dir + "/") + ".tmp-" + (path as NSString).lastPathComponent + "-\(getpid())"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ParquetError("cannot create \(tempPath): \(String(cString: strerror(errno)))") }
        kinds = columns.map(\.kind)
        buffers = ColumnPool.shared.take(kinds)
        streams = columns.map { $0.streamed ? StreamedChunk() : nil }
        streamedColumns = columns.indices.filter { columns[$0].streamed }
        try write(Array("PAR1".utf8))
    }

    deinit {
        if !closed { abandon() }
        ColumnPool.shared.give(buffers, kinds)
    }

    /// Adds one row (one value per column, in column order).
    public func append(_ row: [ParquetValue]) throws {
        guard row.count == columns.count else { throw ParquetError("a row of \(row.count) values for \(columns.count) columns") }
        // The whole row is checked before any column takes a value, so a refused row leaves no trace.
        for (i, v) in row.enumerated() {
            let c = columns[i]
            if case .null = v {
                guard c.optional else { throw ParquetError("column \(c.name) is required; got null") }
            } else if !buffers[i].accepts(v) {
                throw ParquetError("column \(c.name) (\(c.kind)) cannot hold \(v)")
            }
        }
        for (i, v) in row.enumerated() {
            if case .null = v { buffers[i].appendNull() } else { buffers[i].append(v) }
        }
        try rowEnded()
    }

    private func rowEnded() throws {
        buffered += 1
        rows += 1
        for i in streamedColumns where buffers[i].defs.count >= pageRows || buffers[i].bytes.count >= pageBytes { try streamPage(i) }
        if buffered >= rowGroupRows { try flushRowGroup() }
    }

    // MARK: Typed rows
    //
    // A row filled column by column, without a `[ParquetValue]` per row (no enum, no array, no
    // String copy per cell): `put` each column once, then ``endRow()``. A value of the wrong kind,
    // a null in a required column or a column set twice or not at all makes `endRow` throw and
    // take the row back out, so a refused row leaves no trace here either.

    private var rowFault: String?
    /// Columns given a value in the row being filled (bit i = column i), and whether one was
    /// given two: `endRow` counts each column's values only when these say something is off.
    private var putThisRow: UInt64 = 0
    private var putTwice = false
    /// Every column's bit; nil for tables of 64 columns or more (their rows are always counted).
    private lazy var allColumns: UInt64? = columns.count < 64 ? (1 << UInt64(columns.count)) - 1 : nil

    @inline(__always) private func mark(_ column: Int) {
        let bit: UInt64 = column < 64 ? 1 << UInt64(column) : 0
        if putThisRow & bit != 0 { putTwice = true }
        putThisRow |= bit
    }

    /// Text (any string column).
    public func put(_ column: Int, _ s: String) {
        mark(column)
        guard check(column, .string) else { return }
        buffers[column].appendString(s)
    }

    /// Text given as UTF-8 bytes (the caller vouches they are valid UTF-8).
    public func put(_ column: Int, utf8 bytes: UnsafeRawBufferPointer) {
        mark(column)
        guard check(column, .string) else { return }
        buffers[column].appendBytes(bytes)
    }

    /// An integer (int64, int32 within range, timestamp millis).
    public func put(_ column: Int, _ x: Int64) {
        mark(column)
        let k = columns[column].kind
        if k == .boolean && (x == 0 || x == 1) { // a boolean read back as 0/1 (``appendRows(of:)``)
            buffers[column].bools.append(x == 1)
            buffers[column].defs.append(1)
            return
        }
        guard k == .int64 || k == .timestampMillis || (k == .int32 && Int32(exactly: x) != nil) else {
            rowFault = rowFault ?? "column \(columns[column].name) (\(k)) cannot hold \(x)"; return
        }
        buffers[column].ints.append(x)
        buffers[column].defs.append(1)
    }

    /// Text or null.
    public func put(_ column: Int, _ s: String?) {
        if let s { put(column, s) } else { putNull(column) }
    }

    /// An integer or null.
    public func put(_ column: Int, _ x: Int64?) {
        if let x { put(column, x) } else { putNull(column) }
    }

    public func putNull(_ column: Int) {
        mark(column)
        guard columns[column].optional else { rowFault = rowFault ?? "column \(columns[column].name) is required; got null"; return }
        buffers[column].appendNull()
    }

    private func check(_ column: Int, _ kind: ParquetColumn.Kind) -> Bool {
        if columns[column].kind == kind { return true }
        rowFault = rowFault ?? "column \(columns[column].name) (\(columns[column].kind)) cannot hold a \(kind) value"
        return false
    }

    /// Ends the row the `put` calls filled.
    public func endRow() throws {
        let want = buffered + 1
        let complete = allColumns == putThisRow && !putTwice // every column once
        putThisRow = 0; putTwice = false
        if rowFault == nil, !complete, let c = buffers.indices.first(where: { buffers[$0].defs.count + streamedRows($0) != want }) {
            rowFault = "column \(columns[c].name) was given \(buffers[c].defs.count + streamedRows(c) - buffered) values for one row"
        }
        if let fault = rowFault {
            rowFault = nil
            for (i, b) in buffers.enumerated() { b.truncate(rows: buffered - streamedRows(i)) }
            throw ParquetError(fault)
        }
        try rowEnded()
    }

    /// Rows of column `i` already encoded into pages in this row group.
    @inline(__always)
    private func streamedRows(_ i: Int) -> Int { streams[i]?.values ?? 0 }

    /// Writes what is buffered and the footer, syncs, and renames the file into place.
    @discardableResult
    public func close() throws -> Int64 {
        guard !closed else { return offset }
        if buffered > 0 || rowGroups.isEmpty { try flushRowGroup() }
        var t = ThriftWriter()
        t.structBody { w in fileMetaData(&w) }
        let footer = t.bytes
        try write(footer)
        var len = UInt32(footer.count).littleEndian
        try write(withUnsafeBytes(of: &len) { Array($0) } + Array("PAR1".utf8))
        guard fsync(fd) == 0 else { throw ParquetError("fsync \(tempPath): \(String(cString: strerror(errno)))") }
        Glibc.close(fd)
        closed = true
        guard rename(tempPath, path) == 0 else { throw ParquetError("rename to \(path): \(String(cString: strerror(errno)))") }
        return offset
    }

    /// Gives up: the temporary file is removed, nothing appears at `path`.
    public func abandon() {
        guard !closed else { return }
        Glibc.close(fd)
        unlink(tempPath)
        closed = true
    }

    private func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeAll(fd, bytes, name: tempPath)
        offset += Int64(bytes.count)
    }

    // MARK: Merging files

    /// Appends the row groups of another file of the same columns as they are — the pages'
    /// bytes copied, not decoded, their offsets moved — so many small files become one (the
    /// checkpointer's compaction of a day's part files). Only between row groups: nothing may be
    /// buffered. A file of other columns, or not Parquet, throws before anything is written.
    public func appendRowGroups(of input: String) throws {
        guard buffered == 0 else { throw ParquetError("rows are buffered: merge files before adding rows") }
        let reader = try ParquetRowGroupReader(path: input, columns: columns)
        // The row groups, their offsets moved to where the pages land in this file.
        let shift = offset - 4
        var groups: [RowGroupMeta] = []
        for g in reader.rowGroups {
            let chunks = try (g[1]?.list ?? []).map { cc -> ChunkMeta in
                guard let md = cc[3], let values = md[5]?.int, let u = md[6]?.int, let z = md[7]?.int, let data = md[9]?.int else {
                    throw ParquetError("\(input): a column chunk without its metadata")
                }
                return ChunkMeta(encodings: md[2]?.list.compactMap { $0.int.map { Int32($0) } } ?? [], values: values, uncompressed: u,
                                 compressed: z, dataPageOffset: data + shift, dictionaryPageOffset: md[11]?.int.map { $0 + shift },
                                 nullCount: md[12]?[3]?.int ?? 0, min: md[12]?[6]?.binary, max: md[12]?[5]?.binary)
            }
            guard chunks.count == columns.count, let n = g[3]?.int, let at = g[5]?.int else { throw ParquetError("\(input): a row group without its columns") }
            groups.append(RowGroupMeta(chunks: chunks, rows: n, offset: at + shift))
        }
        var at = 4
        while at < reader.dataEnd {
            let n = min(1 << 20, reader.dataEnd - at)
            try write(try reader.bytes(at: at, count: n))
            at += n
        }
        rowGroups += groups
        rows += groups.reduce(0) { $0 + $1.rows }
    }

    /// Appends the rows of another file of the same columns, decoded and encoded again into this
    /// file's row groups: for part files whose row groups are small (a checkpoint's rows each),
    /// which ``appendRowGroups(of:)`` would keep small. A file of other columns, or not Parquet,
    /// throws before any row is added; a damaged one may throw after some (abandon the file).
    public func appendRows(of input: String) throws {
        let reader = try ParquetRowGroupReader(path: input, columns: columns)
        for g in reader.rowGroups.indices {
            let (n, values) = try reader.read(g)
            for r in 0..<n {
                for (c, v) in values.enumerated() {
                    switch v {
                    case .ints(let xs): put(c, xs[r])
                    case .text(let bytes, let ranges):
                        if let range = ranges[r] {
                            bytes.withUnsafeBytes { put(c, utf8: UnsafeRawBufferPointer(rebasing: $0[range])) }
                        } else {
                            putNull(c)
                        }
                    }
                }
                try endRow()
            }
        }
    }

    // MARK: Row groups and pages

    struct ChunkMeta {
        var encodings: [Int32]
        var values: Int64
        var uncompressed: Int64
        var compressed: Int64
        var dataPageOffset: Int64
        var dictionaryPageOffset: Int64?
        var nullCount: Int64
        var min: [UInt8]?
        var max: [UInt8]?
    }

    struct RowGroupMeta {
        var chunks: [ChunkMeta]
        var rows: Int64
        var offset: Int64
    }

    private func flushRowGroup() throws {
        let start = offset
        var chunks: [ChunkMeta] = []
        for (i, c) in columns.enumerated() {
            if c.streamed, buffered > 0 {
                if !buffers[i].defs.isEmpty { try streamPage(i) }
                chunks.append(try writeStreamed(i))
            } else {
                chunks.append(try writeChunk(c, buffers[i]))
            }
        }
        rowGroups.append(RowGroupMeta(chunks: chunks, rows: Int64(buffered), offset: start))
        for b in buffers { b.reset() } // capacity kept for the next row group
        buffered = 0
    }

    private func page(type: Int32, body: [UInt8], header: (inout ThriftWriter) -> Void) throws -> (uncompressed: Int64, compressed: Int64) {
        try body.withUnsafeBytes { try page(type: type, body: $0, header: header) }
    }

    private func page(type: Int32, body: UnsafeRawBufferPointer, header: (inout ThriftWriter) -> Void) throws -> (uncompressed: Int64, compressed: Int64) {
        try compressedPage(type: type, body: body, header: header) { head, packed in
            try write(head)
            try write(packed)
            return (Int64(head.count + body.count), Int64(head.count + packed.count))
        }
    }

    /// Compresses a page body and hands its header (type, sizes, then `header`'s fields) and the
    /// compressed bytes to `use` (valid only inside it).
    private func compressedPage<R>(type: Int32, body: UnsafeRawBufferPointer, header: (inout ThriftWriter) -> Void,
                                   _ use: ([UInt8], UnsafeRawBufferPointer) throws -> R) throws -> R {
        try compressor.compress(body) { packed in
            var t = ThriftWriter()
            t.structBody { w in
                w.i32(1, type)
                w.i32(2, Int32(body.count))
                w.i32(3, Int32(packed.count))
                header(&w)
            }
            return try use(t.bytes, packed)
        }
    }

    /// A v1 data page's header fields: its values, PLAIN or RLE_DICTIONARY, RLE levels.
    private static func dataPageHeader(values: Int, dictionary: Bool) -> (inout ThriftWriter) -> Void {
        { w in
            w.struct(5) { d in
                d.i32(1, Int32(values))
                d.i32(2, dictionary ? 8 : 0)
                d.i32(3, 3) // RLE definition levels
                d.i32(4, 3) // RLE repetition levels (none written: flat schema)
            }
        }
    }

    /// Encodes and compresses what streamed column `i` holds as one PLAIN page, kept with the
    /// row group's earlier pages of that column until the row group is written.
    private func streamPage(_ i: Int) throws {
        let b = buffers[i]
        let n = b.defs.count
        guard n > 0 else { return }
        let (lo, hi) = b.statistics()
        try b.bytes.withUnsafeBytes { all in
            let body = UnsafeRawBufferPointer(rebasing: all[b.plainSlice(0..<n)])
            try compressedPage(type: 0, body: body, header: Self.dataPageHeader(values: n, dictionary: false)) { head, packed in
                streams[i]!.add(header: head, packed: packed, uncompressed: body.count, values: n, min: lo, max: hi)
            }
        }
        b.reset()
    }

    /// Writes streamed column `i`'s pages of this row group.
    private func writeStreamed(_ i: Int) throws -> ChunkMeta {
        let s = streams[i]!
        let meta = ChunkMeta(encodings: [0, 3], values: Int64(s.values), uncompressed: s.uncompressed, compressed: Int64(s.pages.count),
                             dataPageOffset: offset, dictionaryPageOffset: nil, nullCount: 0,
                             min: s.statisticsValid ? s.min : nil, max: s.statisticsValid ? s.max : nil)
        try write(s.pages)
        streams[i]!.reset()
        return meta
    }

    private func writeChunk(_ c: ParquetColumn, _ b: ColumnBuffer) throws -> ChunkMeta {
        var meta = ChunkMeta(encodings: [], values: Int64(b.defs.count), uncompressed: 0, compressed: 0, dataPageOffset: 0,
                             dictionaryPageOffset: nil, nullCount: Int64(b.nulls), min: nil, max: nil)
        // Dictionary for strings with few distinct values: each distinct value's index, in first-seen order.
        let (dictionary, indices) = c.kind == .string ? b.dictionary() : ([], [])
        let useDictionary = !dictionary.isEmpty
        // A dictionary's values are the column's distinct values: its min and max are theirs.
        (meta.min, meta.max) = useDictionary ? b.statistics(among: dictionary) : b.statistics()
        if useDictionary {
            meta.dictionaryPageOffset = offset
            var body: [UInt8] = []
            for i in dictionary { b.plainString(at: Int(i), into: &body) }
            let (u, z) = try page(type: 2, body: body) { w in
                w.struct(7) { d in d.i32(1, Int32(dictionary.count)); d.i32(2, 0) } // PLAIN
            }
            meta.uncompressed += u; meta.compressed += z
            meta.encodings = [0, 3, 8] // PLAIN (dictionary), RLE (levels), RLE_DICTIONARY
        } else {
            meta.encodings = [0, 3] // PLAIN, RLE (levels)
        }
        meta.dataPageOffset = offset
        // Pages of at most pageRows rows; values of a page are the non-null ones among them.
        var row = 0, value = 0
        while row < b.defs.count || (row == 0 && b.defs.isEmpty) {
            let end = min(b.defs.count, row + pageRows)
            let defs = b.defs[row..<end]
            let present = defs.reduce(0) { $0 + Int($1) }
            let header = Self.dataPageHeader(values: end - row, dictionary: useDictionary)
            if c.kind == .string, !c.optional, !useDictionary {
                // Required PLAIN text: the buffer already holds the page body, compressed in place.
                let (u, z) = try b.bytes.withUnsafeBytes { all in
                    try page(type: 0, body: UnsafeRawBufferPointer(rebasing: all[b.plainSlice(value..<(value + present))]), header: header)
                }
                meta.uncompressed += u; meta.compressed += z
                row = end; value += present
                if b.defs.isEmpty { break }
                continue
            }
            var body: [UInt8] = []
            if c.optional {
                let levels = Self.hybrid(defs, width: 1)
                var n = UInt32(levels.count).littleEndian
                body += withUnsafeBytes(of: &n) { Array($0) }
                body += levels
            }
            if useDictionary {
                let ids = indices[value..<(value + present)]
                let width = max(1, 32 - UInt32(max(1, dictionary.count) - 1).leadingZeroBitCount)
                body.append(UInt8(width))
                body += Self.hybrid(ids, width: width)
            } else {
                b.plain(values: value..<(value + present), into: &body)
            }
            let (u, z) = try page(type: 0, body: body, header: header)
            meta.uncompressed += u; meta.compressed += z
            row = end; value += present
            if b.defs.isEmpty { break }
        }
        return meta
    }

    /// The RLE / bit-packing hybrid, written as bit-packed groups of 8 values (LSB first).
    static func hybrid<C: RandomAccessCollection>(_ values: C, width: Int) -> [UInt8] where C.Element: BinaryInteger {
        var out: [UInt8] = []
        let groups = (values.count + 7) / 8
        out.reserveCapacity(groups * width + 10)
        let first = values.startIndex
        var t = ThriftWriter()
        t.varint(UInt64(groups) << 1 | 1)
        out += t.bytes
        var acc: UInt64 = 0, bits = 0
        for g in 0..<groups {
            for k in 0..<8 {
                let i = g * 8 + k
                acc |= (i < values.count ? UInt64(values[values.index(first, offsetBy: i)]) : 0) << UInt64(bits)
                bits += width
                while bits >= 8 { out.append(UInt8(truncatingIfNeeded: acc)); acc >>= 8; bits -= 8 }
            }
        }
        if bits > 0 { out.append(UInt8(truncatingIfNeeded: acc)) }
        return out
    }

    // MARK: Footer

    private func fileMetaData(_ w: inout ThriftWriter) {
        w.i32(1, 1) // version
        w.listStruct(2, [nil] + columns.map { Optional($0) }) { e, c in
            guard let c else { // the root
                e.string(4, "schema")
                e.i32(5, Int32(self.columns.count))
                return
            }
            e.i32(1, c.kind.physical)
            e.i32(3, c.optional ? 1 : 0)
            e.string(4, c.name)
            switch c.kind {
            case .string:
                e.i32(6, 0) // UTF8
                e.struct(10) { l in l.struct(1) { _ in } } // STRING
            case .timestampMillis:
                e.i32(6, 9) // TIMESTAMP_MILLIS
                e.struct(10) { l in l.struct(8) { t in t.bool(1, true); t.struct(2) { u in u.struct(1) { _ in } } } }
            default: break
            }
        }
        w.i64(3, rows)
        w.listStruct(4, rowGroups) { g, rg in
            g.listStruct(1, Array(zip(self.columns, rg.chunks))) { cc, pair in
                let (c, m) = pair
                cc.i64(2, m.dictionaryPageOffset ?? m.dataPageOffset)
                cc.struct(3) { md in
                    md.i32(1, c.kind.physical)
                    md.listI32(2, m.encodings)
                    md.listString(3, [c.name])
                    md.i32(4, 6) // ZSTD
                    md.i64(5, m.values)
                    md.i64(6, m.uncompressed)
                    md.i64(7, m.compressed)
                    md.i64(9, m.dataPageOffset)
                    if let d = m.dictionaryPageOffset { md.i64(11, d) }
                    md.struct(12) { s in
                        s.i64(3, m.nullCount)
                        if let max = m.max { s.binary(5, max) }
                        if let min = m.min { s.binary(6, min) }
                    }
                }
            }
            g.i64(2, rg.chunks.reduce(0) { $0 + $1.uncompressed })
            g.i64(3, rg.rows)
            g.i64(5, rg.offset)
            g.i64(6, rg.chunks.reduce(0) { $0 + $1.compressed })
        }
        w.string(6, "wakala-stream version 0.1.0")
        w.listStruct(7, columns) { o, _ in o.struct(1) { _ in } } // TYPE_ORDER for every column
    }
}

extension ParquetColumn.Kind {
    /// Parquet physical type.
    var physical: Int32 {
        switch self {
        case .boolean: return 0
        case .int32: return 1
        case .int64, .timestampMillis: return 2
        case .double: return 5
        case .string: return 6
        }
    }
}

/// One column's values of the row group being built.
final class ColumnBuffer {
    let kind: ParquetColumn.Kind
    /// Definition level per row: 1 = present, 0 = null.
    var defs: [UInt8] = []
    var nulls = 0
    var ints: [Int64] = []
    var doubles: [Double] = []
    var bools: [Bool] = []
    /// Strings as PLAIN encodes them — each value's 4-byte little-endian length, then its UTF-8
    /// bytes — one after another, and where each value ends: no String per value, and a page of
    /// required text is a slice of this buffer, compressed without another copy.
    let bytes = PlainBytes()
    var ends: [Int] = []

    init(kind: ParquetColumn.Kind) { self.kind = kind }

    var stringCount: Int { ends.count }

    /// Empties the column, keeping its capacity.
    func reset() {
        defs.removeAll(keepingCapacity: true); nulls = 0
        ints.removeAll(keepingCapacity: true); doubles.removeAll(keepingCapacity: true); bools.removeAll(keepingCapacity: true)
        bytes.removeAll(); ends.removeAll(keepingCapacity: true)
    }

    /// Bytes of capacity held.
    var capacity: Int {
        defs.capacity + ints.capacity * 8 + doubles.capacity * 8 + bools.capacity + bytes.capacity + ends.capacity * 8
    }

    func appendNull() { defs.append(0); nulls += 1 }

    func appendString(_ s: String) {
        var s = s
        s.withUTF8 { appendBytes(UnsafeRawBufferPointer($0)) }
    }

    func appendBytes(_ b: UnsafeRawBufferPointer) {
        bytes.appendValue(b)
        ends.append(bytes.count)
        defs.append(1)
    }

    func accepts(_ v: ParquetValue) -> Bool {
        switch (kind, v) {
        case (.int64, .int), (.timestampMillis, .int), (.double, .double), (.double, .int), (.boolean, .bool), (.string, .string): return true
        case (.int32, .int(let x)): return Int32(exactly: x) != nil
        default: return false
        }
    }

    /// Appends a value ``accepts(_:)`` said yes to.
    func append(_ v: ParquetValue) {
        switch (kind, v) {
        case (.int64, .int(let x)), (.timestampMillis, .int(let x)), (.int32, .int(let x)): ints.append(x)
        case (.double, .double(let x)): doubles.append(x)
        case (.double, .int(let x)): doubles.append(Double(x))
        case (.boolean, .bool(let x)): bools.append(x)
        case (.string, .string(let x)): appendString(x); return
        default: preconditionFailure("append of a value the column does not accept")
        }
        defs.append(1)
    }

    /// Takes back every row after the first `rows` (a refused row).
    func truncate(rows: Int) {
        while defs.count > rows {
            if defs.removeLast() == 0 { nulls -= 1; continue }
            switch kind {
            case .int64, .int32, .timestampMillis: ints.removeLast()
            case .double: doubles.removeLast()
            case .boolean: bools.removeLast()
            case .string:
                ends.removeLast()
                bytes.truncate(to: ends.last ?? 0)
            }
        }
    }

    /// The bytes of string value `i` (after its length).
    @inline(__always)
    func range(_ i: Int) -> Range<Int> { ((i == 0 ? 0 : ends[i - 1]) + 4)..<ends[i] }

    /// Where the PLAIN encoding of string values `values` lies in ``bytes``.
    func plainSlice(_ values: Range<Int>) -> Range<Int> {
        values.isEmpty ? 0..<0 : (values.lowerBound == 0 ? 0 : ends[values.lowerBound - 1])..<ends[values.upperBound - 1]
    }

    /// PLAIN encoding of string value `i` (length, then the bytes).
    func plainString(at i: Int, into out: inout [UInt8]) {
        bytes.withUnsafeBytes { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[plainSlice(i..<(i + 1))])) }
    }

    /// PLAIN encoding of the present values in `range`.
    func plain(values range: Range<Int>, into out: inout [UInt8]) {
        switch kind {
        case .int64, .timestampMillis:
            out.reserveCapacity(out.count + range.count * 8)
            for x in ints[range] { var le = x.littleEndian; withUnsafeBytes(of: &le) { out.append(contentsOf: $0) } }
        case .int32:
            out.reserveCapacity(out.count + range.count * 4)
            for x in ints[range] { var le = Int32(x).littleEndian; withUnsafeBytes(of: &le) { out.append(contentsOf: $0) } }
        case .double:
            out.reserveCapacity(out.count + range.count * 8)
            for x in doubles[range] { var le = x.bitPattern.littleEndian; withUnsafeBytes(of: &le) { out.append(contentsOf: $0) } }
        case .boolean:
            var byte: UInt8 = 0, n = 0
            for x in bools[range] {
                if x { byte |= 1 << UInt8(n) }
                n += 1
                if n == 8 { out.append(byte); byte = 0; n = 0 }
            }
            if n > 0 { out.append(byte) }
        case .string:
            bytes.withUnsafeBytes { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[plainSlice(range)])) }
        }
    }

    /// Dictionary encoding of a string column when it pays: the distinct values (as the index of
    /// each one's first occurrence, in first-seen order) and every value's id. Empty when most
    /// values are distinct (e.g. raw JSON) or the distinct values pass 1 MB.
    func dictionary() -> (values: [Int32], ids: [UInt32]) {
        let n = stringCount
        guard n > 0 else { return ([], []) }
        var distinct: [Int32] = []
        var ids: [UInt32] = []
        ids.reserveCapacity(n)
        var slots = [Int32](repeating: -1, count: 256) // open addressing: an id in `distinct`, or -1
        var mask = slots.count - 1
        var size = 0
        return bytes.withUnsafeBytes { all -> ([Int32], [UInt32]) in
            // The operators' word-at-a-time mixer (the byte-wise FNV-1a it replaced was 2 % of
            // `replay --sinks`' instructions).
            func hash(_ r: Range<Int>) -> Int {
                Int(truncatingIfNeeded: FastKey.hash(bytes: UnsafeRawBufferPointer(rebasing: all[r])))
            }
            func same(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
                a.count == b.count && (a.isEmpty || memcmp(all.baseAddress! + a.lowerBound, all.baseAddress! + b.lowerBound, a.count) == 0)
            }
            for i in 0..<n {
                let r = range(i)
                var at = hash(r) & mask
                while true {
                    let d = slots[at]
                    if d < 0 {
                        let id = Int32(distinct.count)
                        distinct.append(Int32(i))
                        slots[at] = id
                        ids.append(UInt32(id))
                        size += r.count
                        // Give up as soon as most values are distinct, or it grows large.
                        if (distinct.count > 64 && distinct.count * 2 > ids.count) || size > 1 << 20 { return ([], []) }
                        if distinct.count * 2 > slots.count {
                            slots = [Int32](repeating: -1, count: slots.count * 4)
                            mask = slots.count - 1
                            for (k, first) in distinct.enumerated() {
                                var j = hash(range(Int(first))) & mask
                                while slots[j] >= 0 { j = (j + 1) & mask }
                                slots[j] = Int32(k)
                            }
                        }
                        break
                    }
                    if same(range(Int(distinct[Int(d)])), r) { ids.append(UInt32(d)); break }
                    at = (at + 1) & mask
                }
            }
            return (distinct, ids)
        }
    }

    /// Min and max as Parquet statistics bytes (PLAIN without length prefix); nil when there is
    /// no value, for NaN doubles, and for strings over 256 bytes (stats would bloat the footer).
    func statistics(among values: [Int32]? = nil) -> ([UInt8]?, [UInt8]?) {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { var x = v.littleEndian; return withUnsafeBytes(of: &x) { Array($0) } }
        switch kind {
        case .int64, .timestampMillis:
            guard let lo = ints.min(), let hi = ints.max() else { return (nil, nil) }
            return (le(lo), le(hi))
        case .int32:
            guard let lo = ints.min(), let hi = ints.max() else { return (nil, nil) }
            return (le(Int32(lo)), le(Int32(hi)))
        case .double:
            guard !doubles.contains(where: \.isNaN), let lo = doubles.min(), let hi = doubles.max() else { return (nil, nil) }
            return (le(lo.bitPattern), le(hi.bitPattern))
        case .boolean:
            guard !bools.isEmpty else { return (nil, nil) }
            return ([bools.contains(false) ? 0 : 1], [bools.contains(true) ? 1 : 0])
        case .string:
            guard stringCount > 0 else { return (nil, nil) }
            return bytes.withUnsafeBytes { all -> ([UInt8]?, [UInt8]?) in
                // Unsigned byte order (memcmp, then the shorter first) — UTF-8's code point order.
                func less(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
                    let m = min(a.count, b.count)
                    let c = m == 0 ? 0 : memcmp(all.baseAddress! + a.lowerBound, all.baseAddress! + b.lowerBound, m)
                    return c != 0 ? c < 0 : a.count < b.count
                }
                var lo = range(Int(values?.first ?? 0)), hi = lo
                func consider(_ i: Int) -> Bool {
                    let r = range(i)
                    if r.count > 256 { return false }
                    if less(r, lo) { lo = r }
                    if less(hi, r) { hi = r }
                    return true
                }
                if let values {
                    for i in values where !consider(Int(i)) { return (nil, nil) }
                } else {
                    for i in 0..<stringCount where !consider(i) { return (nil, nil) }
                }
                return (Array(UnsafeRawBufferPointer(rebasing: all[lo])), Array(UnsafeRawBufferPointer(rebasing: all[hi])))
            }
        }
    }
}

/// A string column's PLAIN bytes: grown by doubling like an `Array`, but a value (its 4-byte
/// length, then its bytes) goes in with one capacity check and one copy — through `Array`'s
/// generic `append(contentsOf:)`, twice a value, a string cell cost ~310 instructions (callgrind),
/// and the `events` table puts ~7 of them a record. Reset keeps the capacity (``ColumnPool``).
final class PlainBytes {
    private var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private(set) var capacity = 0

    deinit { base?.deallocate() }

    /// Appends `b` as a PLAIN value: its length (4 bytes, little-endian), then its bytes.
    @inline(__always)
    func appendValue(_ b: UnsafeRawBufferPointer) {
        let n = b.count
        if count &+ 4 &+ n > capacity { grow(to: count + 4 + n) }
        let at = base! + count
        at.storeBytes(of: UInt32(truncatingIfNeeded: n).littleEndian, as: UInt32.self)
        if n > 0 { (at + 4).copyMemory(from: b.baseAddress!, byteCount: n) }
        count &+= 4 &+ n
    }

    @inline(never)
    private func grow(to need: Int) {
        var c = Swift.max(capacity * 2, 256)
        while c < need { c *= 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 16)
        if let base {
            fresh.copyMemory(from: base, byteCount: count)
            base.deallocate()
        }
        base = fresh
        capacity = c
    }

    /// Keeps the first `n` bytes (a refused row's values taken back).
    func truncate(to n: Int) { count = Swift.min(count, Swift.max(0, n)) }

    /// Empties it, keeping the capacity.
    func removeAll() { count = 0 }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }
}

/// Column buffers of finished files, kept for the next file of the same column kinds: a file's
/// buffers grow to a row group's size once and are then reused, instead of fresh pages faulted in
/// (and grown by doubling) for every file of every checkpoint — two thirds of `replay --sinks`'s
/// page faults were the events table's text columns. Process-wide and bounded: past `limit`
/// bytes of capacity kept, a finished file's buffers are freed.
final class ColumnPool: @unchecked Sendable { // every member under `lock`
    static let shared = ColumnPool(limit: 96 << 20)

    private let lock = NSLock()
    private var free: [[ParquetColumn.Kind]: [[ColumnBuffer]]] = [:]
    private var kept = 0
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Empty buffers for `kinds`: reused ones when there are.
    func take(_ kinds: [ParquetColumn.Kind]) -> [ColumnBuffer] {
        lock.lock()
        let set = free[kinds]?.popLast()
        if let set { kept -= set.reduce(0) { $0 + $1.capacity } }
        lock.unlock()
        return set ?? kinds.map { ColumnBuffer(kind: $0) }
    }

    /// Takes back a finished file's buffers (emptied), or lets them go when the pool is full.
    func give(_ set: [ColumnBuffer], _ kinds: [ParquetColumn.Kind]) {
        for b in set { b.reset() }
        let size = set.reduce(0) { $0 + $1.capacity }
        lock.lock(); defer { lock.unlock() }
        guard kept + size <= limit else { return }
        free[kinds, default: []].append(set)
        kept += size
    }
}

/// A streamed column's pages of one row group, encoded and compressed as they filled.
struct StreamedChunk {
    var pages: [UInt8] = []
    var values = 0
    var uncompressed: Int64 = 0
    var min: [UInt8]?
    var max: [UInt8]?
    /// False once a page had values but no statistics (a value over 256 bytes).
    var statisticsValid = true

    mutating func add(header: [UInt8], packed: UnsafeRawBufferPointer, uncompressed body: Int, values n: Int, min lo: [UInt8]?, max hi: [UInt8]?) {
        pages += header
        pages.append(contentsOf: packed)
        uncompressed += Int64(header.count + body)
        values += n
        guard let lo, let hi else { statisticsValid = false; return }
        // Unsigned byte order, the shorter first on a tie: as ColumnBuffer.statistics compares.
        if min == nil || lo.lexicographicallyPrecedes(min!) { min = lo }
        if max == nil || max!.lexicographicallyPrecedes(hi) { max = hi }
    }

    mutating func reset() {
        pages.removeAll(keepingCapacity: true)
        values = 0; uncompressed = 0; min = nil; max = nil; statisticsValid = true
    }
}

/// Writes all of `bytes` to `fd` (a write may take part of them); `name` is for the error.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
    var done = 0
    while done < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        guard n > 0 else { throw ParquetError("write \(name): \(String(cString: strerror(errno)))") }
        done += n
    }
}

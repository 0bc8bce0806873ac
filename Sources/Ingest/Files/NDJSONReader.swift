#if canImport(Glibc)
import Glibc
#endif

/// Reads newline-delimited records from a plain or zstd-compressed file without copying each
/// line: the body gets a view of the line's bytes in the read buffer.
public final class NDJSONReader {
    private let reader: FileReader
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var eof = false
    /// Lines (records) handed out so far.
    public private(set) var lineNumber: Int64 = 0
    /// Byte offset (in the uncompressed stream) of the next line.
    public private(set) var byteOffset: Int64 = 0
    /// Longest line accepted; longer lines are an I/O error (far beyond the 1 MiB record limit,
    /// which the decoder reports as `too_large` for anything in between).
    public static let maxLineBytes = 64 << 20

    /// Bytes of the file read so far (compressed for `.zst`), for progress against its size.
    public var fileBytesRead: Int64 { reader.fileBytesRead }

    public init(path: String, bufferSize: Int = 1 << 20) throws {
        reader = try FileReader(path: path)
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// One record: its bytes, its 1-based line number and its byte offset.
    public typealias Body = (_ bytes: UnsafeRawBufferPointer, _ line: Int64, _ offset: Int64) throws -> Void

    /// Calls `body` for each non-empty line (a trailing `\r` is dropped) until the end of the file
    /// or until `body` returns after `limit` lines. Returns the number of lines handed out.
    @discardableResult
    public func forEach(limit: Int = .max, _ body: Body) throws -> Int {
        var handed = 0
        while handed < limit {
            guard let (s, e) = try nextLine() else { break }
            lineNumber += 1
            let offset = byteOffset
            byteOffset += Int64(e - s + 1)
            var len = e - s
            if len > 0 && buffer[s + len - 1] == 0x0D { len -= 1 }
            if len == 0 { continue }
            try body(UnsafeRawBufferPointer(rebasing: buffer[s..<(s + len)]), lineNumber, offset)
            handed += 1
        }
        return handed
    }

    /// The next line as buffer offsets `[s, e)` (without the newline), or nil at the end.
    private func nextLine() throws -> (Int, Int)? {
        var scanFrom = start
        while true {
            if scanFrom < end, let p = memchr(buffer.baseAddress! + scanFrom, 0x0A, end - scanFrom) {
                let nl = buffer.baseAddress!.distance(to: UnsafeMutableRawPointer(p))
                let s = start
                start = nl + 1
                return (s, nl)
            }
            scanFrom = end
            if eof {
                if start < end { let s = start; start = end; return (s, end) }
                return nil
            }
            // Make room: move the partial line to the front, grow if it fills the buffer.
            if start > 0 {
                let n = end - start
                if n > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, n) }
                scanFrom -= start
                end = n
                start = 0
            }
            if end == buffer.count {
                guard buffer.count < Self.maxLineBytes else { throw IOError("\(reader.path): line \(lineNumber + 1) is longer than \(Self.maxLineBytes) bytes") }
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
                bigger.copyMemory(from: UnsafeRawBufferPointer(buffer))
                buffer.deallocate()
                buffer = bigger
            }
            let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if n == 0 { eof = true } else { end += n }
        }
    }
}

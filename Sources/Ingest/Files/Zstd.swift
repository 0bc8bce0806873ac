import CZstd
#if canImport(Glibc)
import Glibc
#endif

/// An error from libzstd or the file system.
public struct IOError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A byte sink: a plain file or a zstd stream into a file (`.zst`).
public final class FileWriter {
    private let file: UnsafeMutablePointer<FILE>
    private let cctx: OpaquePointer?
    private var out: [UInt8]
    public let path: String

    /// Opens `path` for writing; compresses with zstd (at `level`) when the name ends in `.zst`.
    public init(path: String, level: Int32 = 3) throws {
        guard let f = fopen(path, "wb") else { throw IOError("cannot open \(path) for writing: \(String(cString: strerror(errno)))") }
        self.file = f
        self.path = path
        if path.hasSuffix(".zst") {
            let c = ZSTD_createCCtx()
            ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)
            cctx = c
            out = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        } else {
            cctx = nil
            out = []
        }
    }

    deinit {
        if let cctx { ZSTD_freeCCtx(cctx) }
    }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let cctx else {
            if bytes.count > 0 && fwrite(bytes.baseAddress, 1, bytes.count, file) != bytes.count { throw IOError("write to \(path) failed") }
            return
        }
        try compress(cctx, bytes, ZSTD_e_continue)
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    private func compress(_ cctx: OpaquePointer, _ bytes: UnsafeRawBufferPointer, _ mode: ZSTD_EndDirective) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        let outSize = out.count
        while true {
            let (remaining, produced): (Int, Int) = out.withUnsafeMutableBytes { o in
                var output = ZSTD_outBuffer(dst: o.baseAddress, size: outSize, pos: 0)
                let r = ZSTD_compressStream2(cctx, &output, &input, mode)
                return (r, output.pos)
            }
            if ZSTD_isError(remaining) != 0 { throw IOError("zstd: \(String(cString: ZSTD_getErrorName(remaining)))") }
            if produced > 0 {
                let ok = out.withUnsafeBytes { fwrite($0.baseAddress, 1, produced, file) == produced }
                if !ok { throw IOError("write to \(path) failed") }
            }
            let done = mode == ZSTD_e_end ? remaining == 0 : input.pos == input.size
            if done { return }
        }
    }

    /// Finishes the zstd frame, flushes and closes the file.
    public func close() throws {
        if let cctx { try compress(cctx, UnsafeRawBufferPointer(start: nil, count: 0), ZSTD_e_end) }
        guard fclose(file) == 0 else { throw IOError("closing \(path) failed") }
    }
}

/// A byte source: a plain file or a zstd-compressed file, read in chunks (streaming).
public final class FileReader {
    private let file: UnsafeMutablePointer<FILE>
    private let dctx: OpaquePointer?
    private var inBuf: [UInt8]
    private var inPos = 0
    private var inLen = 0
    private var finishedFrame = true
    public let path: String
    /// Bytes read from the file so far (compressed bytes for `.zst`), for progress.
    public private(set) var fileBytesRead: Int64 = 0

    /// Opens `path`; decompresses with zstd when the name ends in `.zst`.
    public init(path: String) throws {
        guard let f = fopen(path, "rb") else { throw IOError("cannot open \(path): \(String(cString: strerror(errno)))") }
        file = f
        self.path = path
        if path.hasSuffix(".zst") {
            dctx = ZSTD_createDCtx()
            inBuf = [UInt8](repeating: 0, count: ZSTD_DStreamInSize())
        } else {
            dctx = nil
            inBuf = []
        }
    }

    deinit {
        if let dctx { ZSTD_freeDCtx(dctx) }
        fclose(file)
    }

    /// Reads up to `into.count` bytes; returns 0 at end of input.
    public func read(into: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let dctx else {
            let n = fread(into.baseAddress, 1, into.count, file)
            fileBytesRead += Int64(n)
            return n
        }
        while true {
            if inPos == inLen {
                inLen = inBuf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
                fileBytesRead += Int64(inLen)
                inPos = 0
                if inLen == 0 {
                    if ferror(file) != 0 { throw IOError("read from \(path) failed") }
                    if !finishedFrame { throw IOError("\(path): truncated zstd stream") }
                    return 0
                }
            }
            let capacity = inLen
            var produced = 0
            let r: Int = inBuf.withUnsafeBytes { i in
                var input = ZSTD_inBuffer(src: i.baseAddress, size: capacity, pos: inPos)
                var output = ZSTD_outBuffer(dst: into.baseAddress, size: into.count, pos: 0)
                let r = ZSTD_decompressStream(dctx, &output, &input)
                inPos = input.pos
                produced = output.pos
                return r
            }
            if ZSTD_isError(r) != 0 { throw IOError("\(path): zstd: \(String(cString: ZSTD_getErrorName(r)))") }
            finishedFrame = r == 0
            if produced > 0 { return produced }
        }
    }
}

/// One-shot zstd compression of byte buffers (snapshots, Parquet pages).
public enum Zstd {
    /// Compresses `bytes` at `level`.
    public static func compress(_ bytes: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        let bound = ZSTD_compressBound(bytes.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { o in
            bytes.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, bound, i.baseAddress, bytes.count, level) }
        }
        if ZSTD_isError(n) != 0 { throw IOError("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        out.removeSubrange(n...)
        return out
    }

    /// A compression context kept across calls (one per writer; not for concurrent use): saves
    /// creating and zeroing a context per page.
    public final class Compressor {
        private let cctx: OpaquePointer
        /// The last frame's room, kept for the next one (no fresh pages per frame).
        private var out: UnsafeMutableRawBufferPointer
        public init(level: Int32 = 3) {
            cctx = ZSTD_createCCtx()! // nil only when out of memory
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
            out = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16)
        }
        deinit { ZSTD_freeCCtx(cctx); out.deallocate() }

        /// Compresses `bytes` into one frame.
        public func compress(_ bytes: [UInt8]) throws -> [UInt8] {
            try bytes.withUnsafeBytes { try compress($0) { Array($0) } }
        }

        /// Compresses `bytes` into one frame and hands it to `use`; the frame's bytes are valid
        /// only inside `use` (the buffer is reused by the next call).
        public func compress<R>(_ bytes: UnsafeRawBufferPointer, _ use: (UnsafeRawBufferPointer) throws -> R) throws -> R {
            let bound = ZSTD_compressBound(bytes.count)
            if out.count < bound {
                out.deallocate()
                out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bound, out.count * 3 / 2), alignment: 16)
            }
            let n = ZSTD_compress2(cctx, out.baseAddress, out.count, bytes.baseAddress, bytes.count)
            if ZSTD_isError(n) != 0 { throw IOError("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
            return try use(UnsafeRawBufferPointer(rebasing: out[0..<n]))
        }
    }

    /// Decompresses one zstd frame of `size` bytes decompressed (a Parquet page says its size).
    public static func decompress(_ bytes: UnsafeRawBufferPointer, size: Int) throws -> [UInt8] {
        guard size >= 0, size < 1 << 31 else { throw IOError("zstd: a frame of \(size) bytes") }
        var out = [UInt8](repeating: 0, count: size)
        let n = out.withUnsafeMutableBytes { o in ZSTD_decompress(o.baseAddress, size, bytes.baseAddress, bytes.count) }
        if ZSTD_isError(n) != 0 { throw IOError("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        guard n == size else { throw IOError("zstd: \(n) bytes decompressed, \(size) expected") }
        return out
    }

    /// Decompresses one zstd frame whose content size is recorded in its header.
    public static func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        let size = bytes.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, bytes.count) }
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size < 1 << 34 else {
            throw IOError("zstd: not a frame with a known size")
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = out.withUnsafeMutableBytes { o in
            bytes.withUnsafeBytes { i in ZSTD_decompress(o.baseAddress, Int(size), i.baseAddress, bytes.count) }
        }
        if ZSTD_isError(n) != 0 { throw IOError("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        return out
    }
}

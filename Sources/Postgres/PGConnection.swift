import CLibPQ
import Foundation
import Lifecycle

/// A failure from Postgres: the server's message and SQLSTATE when there is one.
public struct PGError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// The five-character SQLSTATE (e.g. `23505`), when the server sent one.
    public var sqlState: String?
    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }
    public init(_ message: String, sqlState: String? = nil) { self.message = message; self.sqlState = sqlState }

    /// Whether trying again can succeed: the connection failed or was cut (no SQLSTATE, class 08,
    /// a server shutting down or starting, too many connections), or the transaction lost a
    /// serialization or deadlock race. A failed statement, a violated constraint or a full disk
    /// (53100) is permanent.
    public var isTransient: Bool {
        guard let s = sqlState else { return true }
        return s.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300", "40001", "40P01"].contains(s)
    }

    /// Whether the settings are wrong rather than the server away: a refused login (28000,
    /// 28P01) or a database that does not exist (3D000). Retrying cannot mend these.
    public var isConfiguration: Bool {
        guard let s = sqlState else { return false }
        return ["28000", "28P01", "3D000"].contains(s)
    }
}

/// Rows returned by a query, as text (Postgres' text format), with column names.
public struct PGRows: Sendable {
    public var columns: [String]
    public var rows: [[String?]]
    /// The value of `column` in row `row`.
    public subscript(row: Int, column: String) -> String? {
        guard let c = columns.firstIndex(of: column) else { return nil }
        return rows[row][c]
    }
    public var count: Int { rows.count }
}

/// One libpq connection. Every statement with values goes through parameters (`$1`, `$2`):
/// no value is ever spliced into SQL text. Not thread-safe: one owner at a time.
public final class PGConnection {
    private let conn: OpaquePointer

    /// Connects with a libpq connection string or URL (`postgresql://user@host:port/db`). A
    /// string libpq cannot read throws ``SettingError``; a refused login or a missing database
    /// throws a ``PGError`` whose ``PGError/isConfiguration`` holds (libpq gives no SQLSTATE for
    /// a failed connection: the server's message says which).
    public init(url: String) throws {
        try Self.checkSyntax(url)
        guard let c = PQconnectdb(url) else { throw PGError("out of memory connecting to Postgres") }
        if PQstatus(c) != CONNECTION_OK {
            let msg = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(c)
            throw PGError("cannot connect to Postgres at \(Self.target(url)): \(msg)", sqlState: Self.refusal(msg))
        }
        conn = c
        _ = try execute("SET client_min_messages TO warning")
    }

    /// Throws ``SettingError`` when libpq cannot read `url` as a connection string or URI.
    public static func checkSyntax(_ url: String, setting: String = "the Postgres URL") throws {
        var err: UnsafeMutablePointer<CChar>?
        guard let opts = PQconninfoParse(url, &err) else {
            let why = err.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "out of memory"
            if let err { PQfreemem(err) }
            throw SettingError(setting: setting, "'\(url)' is not a connection string or URL libpq can read (\(why)); e.g. postgresql://user@host:5432/db")
        }
        PQconninfoFree(opts)
    }

    /// Where `url` points, for messages: `host:port` (or the socket folder), never the password.
    public static func target(_ url: String) -> String {
        guard let opts = PQconninfoParse(url, nil) else { return "?" }
        defer { PQconninfoFree(opts) }
        var values: [String: String] = [:]
        var o = opts
        while let k = o.pointee.keyword {
            if let v = o.pointee.val { values[String(cString: k)] = String(cString: v) }
            o += 1
        }
        let env = ProcessInfo.processInfo.environment
        let host = values["host"] ?? values["hostaddr"] ?? env["PGHOST"] ?? "/var/run/postgresql"
        let port = values["port"] ?? env["PGPORT"] ?? "5432"
        let db = values["dbname"].map { "/\($0)" } ?? ""
        return host.hasPrefix("/") ? "socket \(host) port \(port)\(db)" : "\(host):\(port)\(db)"
    }

    /// The SQLSTATE a failed connection's message stands for, when it is the server refusing
    /// the settings (a login, a database) rather than being away.
    static func refusal(_ msg: String) -> String? {
        if msg.contains("database") && msg.contains("does not exist") { return "3D000" }
        if msg.contains("password authentication failed") || msg.contains("no password supplied") { return "28P01" }
        if msg.contains("authentication failed") || (msg.contains("role") && msg.contains("does not exist"))
            || msg.contains("no pg_hba.conf entry") || msg.contains("permission denied for database") { return "28000" }
        return nil
    }

    /// Postgres did not answer within the connect timeout at start (runtime failure, exit 1).
    public struct Unreachable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Connects, retrying what may heal (the server not up yet, refused connections, DNS) with
    /// backoff for `timeout` seconds, then throws ``Unreachable`` naming host and port. Settings
    /// that cannot work (an unreadable URL, a refused login, a missing database) throw
    /// ``SettingError`` at once, naming `setting`. A stop request ends the wait (``Shutdown``).
    public static func connect(url: String, setting: String, timeout: Double, log: (String) -> Void) throws -> PGConnection {
        try checkSyntax(url, setting: setting)
        let began = DispatchTime.now().uptimeNanoseconds
        var delay = 0.2
        while true {
            do {
                return try PGConnection(url: url)
            } catch let e as PGError where e.isConfiguration {
                throw SettingError(setting: setting, e.message)
            } catch {
                let waited = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
                if waited >= timeout {
                    throw Unreachable(description: "Postgres at \(target(url)) did not answer within \(Int(timeout)) s (--connect-timeout): \(error)")
                }
                log("connecting to Postgres at \(target(url)) failed (\(error)); retrying in \(String(format: "%.1f", delay)) s (giving up after \(Int(timeout)) s)")
                try Shutdown.sleep(min(delay, max(0.05, timeout - waited)), while: "connecting to Postgres at \(target(url))")
                delay = min(5, delay * 2)
            }
        }
    }

    deinit { PQfinish(conn) }

    /// Whether the connection is still usable.
    public var isHealthy: Bool { PQstatus(conn) == CONNECTION_OK }

    private func check(_ res: OpaquePointer?, _ sql: String) throws -> OpaquePointer {
        guard let res else { throw PGError(String(cString: PQerrorMessage(conn))) }
        switch PQresultStatus(res) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_EMPTY_QUERY:
            return res
        default:
            let msg = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(res, 67 /* PG_DIAG_SQLSTATE 'C' */).map { String(cString: $0) }
            PQclear(res)
            throw PGError(msg.isEmpty ? "statement failed: \(sql.prefix(80))" : msg, sqlState: state)
        }
    }

    /// Runs one or more statements without parameters (DDL, BEGIN/COMMIT). Returns rows affected.
    @discardableResult
    public func execute(_ sql: String) throws -> Int {
        let res = try check(PQexec(conn, sql), sql)
        defer { PQclear(res) }
        return Int(String(cString: PQcmdTuples(res))) ?? 0
    }

    /// Runs one statement with text parameters (nil is SQL NULL) and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws -> PGRows {
        let res = try withCStrings(params) { ptrs in
            try check(PQexecParams(conn, sql, Int32(params.count), nil, ptrs, nil, nil, 0), sql)
        }
        defer { PQclear(res) }
        let nf = Int(PQnfields(res)), nt = Int(PQntuples(res))
        var columns: [String] = []
        for f in 0..<nf { columns.append(String(cString: PQfname(res, Int32(f)))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(nt)
        for r in 0..<nt {
            var row: [String?] = []
            for f in 0..<nf {
                row.append(PQgetisnull(res, Int32(r), Int32(f)) == 1 ? nil : String(cString: PQgetvalue(res, Int32(r), Int32(f))))
            }
            rows.append(row)
        }
        return PGRows(columns: columns, rows: rows)
    }

    /// Subscribes this connection to a notification channel (`LISTEN`).
    public func listen(_ channel: String) throws {
        let quoted = "\"" + channel.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        try execute("LISTEN " + quoted)
    }

    /// Waits up to `timeoutMs` for notifications on the channels this connection listens to and
    /// returns those that arrived (channel, payload); empty after the timeout. Throws when the
    /// connection is lost (the caller reconnects and assumes it missed some).
    public func notifications(timeoutMs: Int32) throws -> [(channel: String, payload: String)] {
        var out: [(String, String)] = []
        func drain() {
            while let n = PQnotifies(conn) {
                out.append((String(cString: n.pointee.relname), String(cString: n.pointee.extra)))
                PQfreemem(n)
            }
        }
        guard PQconsumeInput(conn) == 1 else { throw PGError(String(cString: PQerrorMessage(conn))) }
        drain()
        if !out.isEmpty { return out }
        var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let r = poll(&fds, 1, timeoutMs)
        if r < 0 && errno != EINTR { throw PGError("waiting for notifications: poll failed (errno \(errno))") }
        guard PQconsumeInput(conn) == 1, PQstatus(conn) == CONNECTION_OK else {
            throw PGError("notification connection lost: " + String(cString: PQerrorMessage(conn)))
        }
        drain()
        return out
    }

    /// Prepares a named statement on this connection (server-side plan, parameters `$1`…).
    public func prepare(_ name: String, _ sql: String) throws {
        PQclear(try check(PQprepare(conn, name, sql, 0, nil), sql))
        prepared.insert(name)
    }

    /// Statements prepared on this connection.
    public private(set) var prepared: Set<String> = []

    /// Runs a statement made by ``prepare(_:_:)`` with text parameters; returns rows affected.
    @discardableResult
    public func execute(prepared name: String, _ params: [String?]) throws -> Int {
        let res = try withCStrings(params) { ptrs in
            try check(PQexecPrepared(conn, name, Int32(params.count), ptrs, nil, nil, 0), name)
        }
        defer { PQclear(res) }
        return Int(String(cString: PQcmdTuples(res))) ?? 0
    }

    /// Runs a prepared statement whose parameter `binary.index` goes in binary format (its bytes
    /// as they are: a `bytea` without hex-encoding it here and decoding it there), the others as
    /// text; returns rows affected.
    @discardableResult
    public func execute(prepared name: String, _ params: [String?], binary: (index: Int, bytes: [UInt8])) throws -> Int {
        try withBinary(params, binary) { v, l, f in try check(PQexecPrepared(conn, name, Int32(params.count), v, l, f, 0), name) }
    }

    /// Runs one statement with text parameters but `binary.index`, which goes in binary format
    /// (as ``execute(prepared:_:binary:)``); returns rows affected.
    @discardableResult
    public func execute(_ sql: String, _ params: [String?], binary: (index: Int, bytes: [UInt8])) throws -> Int {
        try withBinary(params, binary) { v, l, f in try check(PQexecParams(conn, sql, Int32(params.count), nil, v, l, f, 0), sql) }
    }

    private func withBinary(_ params: [String?], _ binary: (index: Int, bytes: [UInt8]),
                            _ run: ([UnsafePointer<CChar>?], [Int32], [Int32]) throws -> OpaquePointer) throws -> Int {
        let res = try withCStrings(params) { ptrs in
            // A pointer even for no bytes (a nil value would be SQL NULL).
            try (binary.bytes.isEmpty ? [0] : binary.bytes).withUnsafeBufferPointer { raw in
                var values = ptrs
                var lengths = [Int32](repeating: 0, count: params.count)
                var formats = [Int32](repeating: 0, count: params.count)
                values[binary.index] = UnsafeRawPointer(raw.baseAddress!).assumingMemoryBound(to: CChar.self)
                lengths[binary.index] = Int32(binary.bytes.count)
                formats[binary.index] = 1
                return try run(values, lengths, formats)
            }
        }
        defer { PQclear(res) }
        return Int(String(cString: PQcmdTuples(res))) ?? 0
    }

    /// Streams rows into `table` with `COPY … FROM STDIN` (text format); `rows` must already be
    /// COPY text (use ``copyEscape(_:)``), one row per line. Returns the rows copied.
    @discardableResult
    public func copy(into table: String, columns: [String], text: [UInt8]) throws -> Int {
        let sql = "COPY \(table) (\(columns.joined(separator: ", "))) FROM STDIN"
        PQclear(try check(PQexec(conn, sql), sql))
        let ok = text.withUnsafeBytes { b -> Bool in
            var off = 0
            while off < b.count {
                let n = min(1 << 20, b.count - off)
                if PQputCopyData(conn, b.baseAddress!.advanced(by: off).assumingMemoryBound(to: CChar.self), Int32(n)) != 1 { return false }
                off += n
            }
            return true
        }
        if PQputCopyEnd(conn, ok ? nil : "client failed while sending") != 1 || !ok {
            throw PGError("COPY into \(table) failed: \(String(cString: PQerrorMessage(conn)))")
        }
        var copied = 0
        var failure: Error?
        while let res = PQgetResult(conn) { // every result read, so the connection is ready for the next statement
            do {
                let checked = try check(res, sql)
                copied += Int(String(cString: PQcmdTuples(checked))) ?? 0
                PQclear(checked)
            } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        return copied
    }

    /// `COPY (query) TO STDOUT (FORMAT binary)`: hands each row's fields to `row` as raw bytes
    /// (nil = NULL) — no text conversion, no hex, no result held whole. Returns the rows.
    @discardableResult
    public func copyOut(_ query: String, row: ([UnsafeRawBufferPointer?]) throws -> Void) throws -> Int {
        let sql = "COPY (\(query)) TO STDOUT (FORMAT binary)"
        PQclear(try check(PQexec(conn, sql), sql))
        var rows = 0, sawHeader = false
        var fields: [UnsafeRawBufferPointer?] = []
        var failure: Error?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(conn, &buffer, 0)
            if n == -1 { break }
            guard n >= 0, let buffer else { throw PGError("COPY out failed: \(String(cString: PQerrorMessage(conn)))") }
            defer { PQfreemem(buffer) }
            guard failure == nil else { continue } // drain the rest after a failure
            let b = UnsafeRawBufferPointer(start: buffer, count: Int(n))
            var at = 0
            func int32() -> Int { defer { at += 4 }; return Int(Int32(bigEndian: b.loadUnaligned(fromByteOffset: at, as: Int32.self))) }
            if !sawHeader {
                // "PGCOPY\n\377\r\n\0", flags, header extension length (+ extension).
                at = 11
                _ = int32()
                at += int32()
                sawHeader = true
            }
            while at + 2 <= b.count {
                let count = Int(Int16(bigEndian: b.loadUnaligned(fromByteOffset: at, as: Int16.self)))
                at += 2
                if count < 0 { break } // the trailer
                fields.removeAll(keepingCapacity: true)
                for _ in 0..<count {
                    let len = int32()
                    if len < 0 { fields.append(nil); continue }
                    fields.append(UnsafeRawBufferPointer(rebasing: b[at..<(at + len)]))
                    at += len
                }
                do { try row(fields) } catch { failure = error }
                rows += 1
            }
        }
        while let res = PQgetResult(conn) {
            let checked = try check(res, sql)
            PQclear(checked)
        }
        if let failure { throw failure }
        return rows
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let v = try body()
            try execute("COMMIT")
            return v
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// A value escaped for COPY's text format (`\N` for NULL).
    public static func copyEscape(_ v: String?) -> String {
        var out: [UInt8] = []
        appendCopyEscaped(v, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ``copyEscape(_:)`` appended as bytes (the read-model writer builds whole COPY buffers).
    public static func appendCopyEscaped(_ v: String?, to out: inout [UInt8]) {
        guard var v else { out.append(0x5C); out.append(0x4E); return } // \N
        v.withUTF8 { b in
            // Runs without a byte to escape (most values: all of them) are copied whole.
            var start = 0
            for i in 0..<b.count {
                let escaped: UInt8
                switch b[i] {
                case 0x5C: escaped = 0x5C
                case 0x0A: escaped = 0x6E
                case 0x0D: escaped = 0x72
                case 0x09: escaped = 0x74
                default: continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                out.append(0x5C); out.append(escaped)
                start = i + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start...]))
        }
    }
}

/// Calls `body` with NUL-terminated copies of `strings` (nil stays a NULL pointer).
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) throws -> R) rethrows -> R {
    let owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { for p in owned { free(p) } }
    return try body(owned.map { $0.map { UnsafePointer($0) } })
}

/// The NOTIFY channel a checkpoint's transaction tells read-model readers on (`wakala serve`
/// listens), with per tenant the earliest rollup bucket written.
public enum ReadModelNotifications {
    public static let channel = "wakala_read_models"
}

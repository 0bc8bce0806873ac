import Foundation
import Sinks
import Postgres

/// One Postgres for the whole test process: `WAKALA_TEST_POSTGRES_URL` when set, else a private
/// cluster under the temp folder, stopped and removed when the process exits. Each test makes a
/// database of its own with ``TestDatabase/fresh(_:)``.
public enum TestDatabase {
    nonisolated(unsafe) private static var local: LocalPostgres?
    private static let lock = NSLock()

    /// URL of the server's maintenance database.
    public static func serverURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["WAKALA_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        lock.lock()
        defer { lock.unlock() }
        if local == nil {
            let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("wakala-test-pg-\(getpid())")
            local = try LocalPostgres(directory: dir)
            atexit { try? TestDatabase.removeLocal() }
        }
        return local!.url()
    }

    public static func removeLocal() throws {
        try local?.remove()
        local = nil
    }

    /// A new, empty database named after the test; returns its URL.
    public static func fresh(_ name: String) throws -> String {
        let server = try serverURL()
        let db = "t_\(name.lowercased().filter { $0.isLetter || $0.isNumber })_\(UInt32.random(in: 0...UInt32.max))"
        let c = try PGConnection(url: server)
        try c.execute("CREATE DATABASE \(db)")
        if let local { return local.url(database: db) }
        // Same server, other database: swap the path of the URL.
        var comps = URLComponents(string: server)!
        comps.path = "/" + db
        return comps.string!
    }
}

import Domain
import Foundation
import Postgres

/// A few Postgres connections shared by request handlers (libpq calls block: callers run them
/// off the event loop). A connection that failed is replaced on its next use.
public final class ConnectionPool: @unchecked Sendable {
    let url: String
    private var idle: [PGConnection] = []
    private let lock = NSLock()
    private let slots: DispatchSemaphore

    public init(url: String, size: Int = 4) {
        self.url = url
        slots = DispatchSemaphore(value: size)
    }

    /// Runs `body` with a connection (waits for a free one).
    public func with<T>(_ body: (PGConnection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        lock.lock()
        var c = idle.popLast()
        lock.unlock()
        if c == nil || c?.isHealthy == false { c = try PGConnection(url: url) }
        let conn = c!
        let result = try body(conn)
        lock.lock()
        if conn.isHealthy { idle.append(conn) }
        lock.unlock()
        return result
    }
}

/// The read side's cache of committed rollups, per tenant: loaded on first use, refreshed from
/// the earliest changed bucket after a checkpoint says it changed them (Postgres LISTEN/NOTIFY,
/// sent inside the checkpoint's transaction, so a notification means committed data). What no
/// checkpoint touched is never read again.
public final class RollupStore: @unchecked Sendable {
    let pool: ConnectionPool
    private let lock = NSLock()
    private let loadLock = NSLock()
    private var cached: [String: TenantRollups] = [:]
    /// Tenants with committed changes not loaded yet: the earliest changed bucket.
    private var stale: [String: Int64] = [:]
    /// Every tenant changed from this bucket on (a notification too long to name them, or a
    /// lost listener connection: `.min`).
    private var allStale: Int64?
    /// Bumped on every change notice (a load clears only what it saw).
    private var generation = 0
    private var listening = false
    private var stopping = false
    public private(set) var notificationsSeen = 0

    public init(pool: ConnectionPool) { self.pool = pool }

    /// The tenant's rollups when cached and current (no Postgres needed), else nil.
    public func current(_ tenant: String) -> TenantRollups? {
        lock.lock()
        defer { lock.unlock() }
        guard let r = cached[tenant], stale[tenant] == nil, allStale == nil else { return nil }
        return r
    }

    /// The tenant's rollups as of the last committed checkpoint this store was told about.
    public func rollups(_ tenant: String) throws -> TenantRollups {
        lock.lock()
        if let r = cached[tenant], stale[tenant] == nil, allStale == nil || cached.isEmpty {
            lock.unlock()
            return r
        }
        lock.unlock()
        loadLock.lock()
        defer { loadLock.unlock() }
        lock.lock()
        if let a = allStale {
            for t in cached.keys { stale[t] = min(stale[t] ?? .max, a) }
            allStale = nil
        }
        let base = cached[tenant], from = stale[tenant], gen = generation
        lock.unlock()
        if let base, from == nil { return base }
        let fresh = try pool.with { db in
            try TenantRollups.load(tenant, db, base: base, from: base == nil ? .min : (from ?? .min))
        }
        lock.lock()
        cached[tenant] = fresh
        if generation == gen { stale[tenant] = nil }
        lock.unlock()
        return fresh
    }

    /// Takes a checkpoint's notification payload (``ReadModelSink/notification(_:)``).
    public func changed(_ payload: String) {
        lock.lock()
        defer { lock.unlock() }
        generation += 1
        notificationsSeen += 1
        guard let obj = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else {
            allStale = .min
            return
        }
        for (tenant, v) in obj {
            let at = (v as? NSNumber)?.int64Value ?? .min
            if tenant == "*" { allStale = min(allStale ?? .max, at); continue }
            guard cached[tenant] != nil else { continue }
            stale[tenant] = min(stale[tenant] ?? .max, at)
        }
    }

    /// Forgets every cached tenant's data from the beginning (notifications may have been missed).
    func invalidateAll() {
        lock.lock()
        generation += 1
        allStale = .min
        lock.unlock()
    }

    /// Listens for checkpoint notifications on a thread of its own until ``stop()``; reconnects
    /// (and invalidates everything, as it may have missed some) when the connection drops.
    public func startListening(log: @escaping @Sendable (String) -> Void) {
        lock.lock()
        if listening { lock.unlock(); return }
        listening = true
        lock.unlock()
        let ready = DispatchSemaphore(value: 0)
        let t = Thread { [self] in
            var signalled = false
            while !isStopping {
                do {
                    let db = try PGConnection(url: pool.url)
                    try db.listen(ReadModelNotifications.channel)
                    if signalled { invalidateAll() } else { signalled = true; ready.signal() }
                    while !isStopping {
                        for n in try db.notifications(timeoutMs: 250) { changed(n.payload) }
                    }
                } catch {
                    if !signalled { signalled = true; ready.signal() }
                    log("listening for checkpoints: \(error); retrying in 1 s (cached dashboards are reloaded)")
                    invalidateAll()
                    Thread.sleep(forTimeInterval: 1)
                }
            }
        }
        t.name = "wakala-listen"
        t.start()
        _ = ready.wait(timeout: .now() + 10)
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    public func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
    }
}

import CSupport
import Foundation

/// A private PostgreSQL cluster in a folder of its own, made from the installed server binaries
/// (initdb + pg_ctl), like the "embedded postgres" libraries of other ecosystems. It listens on
/// a unix socket in its folder and on a loopback port. When the process runs as root, the server
/// runs as the `postgres` user (Postgres refuses to run as root).
///
/// For `wakala demo` and the tests; `WAKALA_TEST_POSTGRES_URL` lets tests use a server of yours.
public final class LocalPostgres: @unchecked Sendable {
    /// The cluster's folder (data, socket, log).
    public let directory: URL
    /// The loopback TCP port.
    public let port: Int
    /// The superuser the cluster was made with.
    public let user = "wakala"
    private let binDir: URL
    private let runAs: String?
    private var running = false

    /// Why a local cluster could not be made or started.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Finds the server binaries: `$WAKALA_PG_BINDIR`, `PATH`, then the newest
    /// `/usr/lib/postgresql/*/bin`.
    public static func findBinaries() throws -> URL {
        let fm = FileManager.default
        var candidates: [String] = []
        if let d = ProcessInfo.processInfo.environment["WAKALA_PG_BINDIR"] { candidates.append(d) }
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for v in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) { candidates.append("/usr/lib/postgresql/\(v)/bin") }
        }
        for d in candidates where fm.isExecutableFile(atPath: d + "/initdb") && fm.isExecutableFile(atPath: d + "/pg_ctl") {
            return URL(fileURLWithPath: d)
        }
        throw Failure(description: """
            PostgreSQL server binaries (initdb, pg_ctl) were not found in WAKALA_PG_BINDIR, PATH or \
            /usr/lib/postgresql/*/bin. Install them with: apt-get install postgresql \
            (or point WAKALA_POSTGRES_URL at a server of yours).
            """)
    }

    /// Creates (if new) and starts a cluster in `directory`.
    public init(directory: URL, port: Int? = nil) throws {
        binDir = try Self.findBinaries()
        self.directory = directory.standardizedFileURL
        self.port = try port ?? Self.freePort()
        runAs = getuid() == 0 ? "postgres" : nil
        let fm = FileManager.default
        try fm.createDirectory(at: self.directory, withIntermediateDirectories: true)
        if let runAs {
            guard getpwnam(runAs) != nil else {
                throw Failure(description: "running as root, but there is no '\(runAs)' user to run the server as (apt-get install postgresql creates it)")
            }
            try Self.run("/bin/chown", ["-R", runAs, self.directory.path], as: nil)
            // The server must reach its folder through every parent.
            var p = self.directory.deletingLastPathComponent()
            while p.path != "/" {
                if access(p.path, X_OK) == 0, let attrs = try? fm.attributesOfItem(atPath: p.path),
                   let mode = attrs[.posixPermissions] as? Int, mode & 0o001 == 0 {
                    throw Failure(description: "the server user '\(runAs)' cannot enter \(p.path) (mode \(String(mode, radix: 8))); put the cluster in a folder it can reach, e.g. under /tmp")
                }
                p = p.deletingLastPathComponent()
            }
        }
        if !fm.fileExists(atPath: dataDir.path + "/PG_VERSION") {
            try Self.run(binDir.path + "/initdb", ["-D", dataDir.path, "-U", user, "--auth=trust", "-E", "UTF8",
                                                   "--locale=C", "--no-instructions"], as: runAs)
        }
        try fm.createDirectory(at: socketDir, withIntermediateDirectories: true)
        if let runAs { try Self.run("/bin/chown", [runAs, socketDir.path], as: nil) }
        // A server left running by a process that was killed (SIGKILL cannot stop it): stop it
        // cleanly first; this start then owns the cluster (and picks its port).
        if fm.fileExists(atPath: dataDir.path + "/postmaster.pid") {
            try? Self.run(binDir.path + "/pg_ctl", ["-D", dataDir.path, "-m", "fast", "-w", "stop"], as: runAs)
        }
        try start()
    }

    public var dataDir: URL { directory.appendingPathComponent("data") }
    var socketDir: URL { directory.appendingPathComponent("socket") }

    /// The libpq URL of database `database` (over the unix socket).
    public func url(database: String = "postgres") -> String {
        "postgresql://\(user)@/\(database)?host=\(socketDir.path)&port=\(port)"
    }

    /// The libpq URL of database `database` over loopback TCP.
    public func tcpURL(database: String = "postgres") -> String {
        "postgresql://\(user)@127.0.0.1:\(port)/\(database)"
    }

    /// Starts the server (waits until it accepts connections).
    public func start() throws {
        let opts = "-k \(socketDir.path) -p \(port) -c listen_addresses=127.0.0.1 -c max_connections=50 -c shared_buffers=64MB"
        try Self.run(binDir.path + "/pg_ctl", ["-D", dataDir.path, "-l", directory.appendingPathComponent("server.log").path,
                                               "-o", opts, "-w", "-t", "60", "start"], as: runAs)
        running = true
    }

    /// Stops the server (fast shutdown; `immediately`: immediate shutdown, no checkpoint — a
    /// process about to be ended leaves nothing running).
    public func stop(immediately: Bool = false) throws {
        guard running else { return }
        try Self.run(binDir.path + "/pg_ctl", ["-D", dataDir.path, "-m", immediately ? "immediate" : "fast", "-w", "stop"], as: runAs)
        running = false
    }

    /// Stops the server and deletes the cluster's folder.
    public func remove() throws {
        try stop()
        try FileManager.default.removeItem(at: directory)
    }

    deinit { try? stop() }

    /// Creates a database (a no-op if it exists) and returns its URL.
    public func createDatabase(_ name: String) throws -> String {
        let c = try PGConnection(url: url())
        let exists = try c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]).count > 0
        if !exists {
            // Identifiers cannot be parameters; quote it as one (doubling any quote).
            try c.execute("CREATE DATABASE \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\"")
        }
        return url(database: name)
    }

    /// A free loopback TCP port (bound and released; good enough for a private test server).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, len) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { throw Failure(description: "could not find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Runs a program (as `user` via runuser when given) and fails with its output on error.
    ///
    /// posix_spawn + waitpid rather than Foundation's Process: this also runs from an `atexit`
    /// handler (stopping a test cluster), where Process's run-loop based wait never returns.
    /// Output goes to a file, not a pipe: `pg_ctl start` leaves the server running with the
    /// inherited descriptors, and a pipe would never reach end-of-file.
    static func run(_ program: String, _ args: [String], as user: String?) throws {
        let argv = user.map { ["/usr/sbin/runuser", "-u", $0, "--", program] + args } ?? [program] + args
        let outPath = NSTemporaryDirectory() + "wakala-pgctl-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Close every other inherited descriptor: the server outlives this call, and must not keep
        // open a pipe some other thread of this process is reading to its end.
        wakala_spawn_addclosefrom(&actions, 3)
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
        guard rc == 0 else { throw Failure(description: "cannot run \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let text = (FileManager.default.contents(atPath: outPath).map { String(decoding: $0, as: UTF8.self) } ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "\((program as NSString).lastPathComponent) failed (\(exited ? "exit \(code)" : "signal \(status & 0x7f)")): \(text)")
        }
    }
}

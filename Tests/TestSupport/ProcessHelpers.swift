import Foundation

/// The `wakala` executable built next to this test bundle.
public func wakalaBinary() throws -> URL {
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [bundleDir, bundleDir.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("wakala")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    struct Missing: Error, CustomStringConvertible { var description: String }
    throw Missing(description: "the wakala executable is not built next to \(bundleDir.path); run `swift build` first")
}

/// What a finished process printed and how it ended.
public struct Finished {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program to completion; kills it if it runs longer than `timeout` seconds.
///
/// Output goes to temporary files, not pipes: a pipe's end-of-file never comes while any other
/// process spawned meanwhile by a concurrent test (a broker, a Postgres server) still holds an
/// inherited copy of its write end.
public func runProcess(_ executable: URL, _ args: [String], timeout: Double = 120, environment: [String: String]? = nil) throws -> Finished {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-proc-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    let done = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in done.signal() }
    try p.run()
    if done.wait(timeout: .now() + timeout) == .timedOut {
        p.terminate()
        // A program that ignores SIGTERM (the bug under test, perhaps) must not hang the suite.
        if done.wait(timeout: .now() + 15) == .timedOut {
            kill(p.processIdentifier, SIGKILL)
            done.wait()
        }
    }
    try? out.close()
    try? err.close()
    return Finished(status: p.terminationStatus,
                    stdout: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
                    stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
}

/// A long-running child (e.g. `wakala broker`) that is stopped with SIGTERM when done.
public final class Daemon {
    public let process = Process()
    private let out = Pipe()
    private var buffered = Data()

    public init(_ executable: URL, _ args: [String]) throws {
        process.executableURL = executable
        process.arguments = args
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Reads standard output until a line starts with `prefix`; returns the rest of that line.
    public func waitForLine(prefix: String) throws -> String {
        let handle = out.fileHandleForReading
        while true {
            if let text = String(data: buffered, encoding: .utf8) {
                for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
                    return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
                }
            }
            let chunk = handle.availableData // blocks until data or EOF
            if chunk.isEmpty {
                struct Ended: Error {}
                throw Ended()
            }
            buffered.append(chunk)
        }
    }

    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Runs a short command with posix_spawn + waitpid and returns its exit status (-1 on timeout,
/// after killing it). For programs whose exit Foundation's `Process` was seen to miss under the
/// parallel suite (the tmux client, which forks its server and exits at once).
public func spawnAndWait(_ path: String, _ args: [String], timeout: Double = 30) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = [path] + args
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for a in cargs { free(a) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, path, &actions, nil, &cargs, environ) == 0 else { return -1 }
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1 }
        if r < 0 && errno != EINTR { return -1 }
        if Date() > deadline {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            return -1
        }
        usleep(20_000)
    }
}

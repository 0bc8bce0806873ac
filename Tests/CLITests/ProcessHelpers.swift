import Foundation

/// The `wakala` executable built next to this test bundle.
func wakalaBinary() throws -> URL {
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [bundleDir, bundleDir.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("wakala")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    struct Missing: Error, CustomStringConvertible { var description: String }
    throw Missing(description: "the wakala executable is not built next to \(bundleDir.path); run `swift build` first")
}

/// What a finished process printed and how it ended.
struct Finished {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion; kills it if it runs longer than `timeout` seconds.
func runProcess(_ executable: URL, _ args: [String], timeout: Double = 120, environment: [String: String]? = nil) throws -> Finished {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    // Read both pipes concurrently so neither fills up and blocks the child.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    killer.cancel()
    return Finished(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                    stderr: String(decoding: errData, as: UTF8.self))
}

/// A long-running child (e.g. `wakala broker`) that is stopped with SIGTERM when done.
final class Daemon {
    let process = Process()
    private let out = Pipe()
    private var buffered = Data()

    init(_ executable: URL, _ args: [String]) throws {
        process.executableURL = executable
        process.arguments = args
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Reads standard output until a line starts with `prefix`; returns the rest of that line.
    func waitForLine(prefix: String) throws -> String {
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

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

import Foundation

// Child processes and async work for the benchmarks that drive servers (bench serve, bench gateway).

func runChecked(_ exe: URL, _ args: [String]) throws {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    p.standardOutput = FileHandle.standardError
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw RuntimeFailure("\(args.first ?? "") failed (\(p.terminationStatus))") }
}

func capture(_ exe: URL, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    let path = NSTemporaryDirectory() + "wakala-capture-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: path) }
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try p.run()
    p.waitUntilExit()
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    guard p.terminationStatus == 0 else { throw RuntimeFailure("\(exe.lastPathComponent) \(args.first ?? "") failed: \(text)") }
    return text
}

/// `s` padded with spaces to `n` characters (a table column).
func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }

func curl(_ url: String, token: String) throws -> String {
    try capture(URL(fileURLWithPath: "/usr/bin/curl"), ["-sf", "-H", "Authorization: Bearer \(token)", url])
}


/// Runs async work from this synchronous command.
func awaitSync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<T, Error>?
    Task {
        do { result = .success(try await body()) } catch { result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try result!.get()
}

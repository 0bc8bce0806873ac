import Foundation
import Testing
@testable import Ingest

/// A class so the scratch folder goes away when the test's instance does.
@Suite final class FileTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-files-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: dir) }

    func tempPath(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func lines(count: Int) -> [String] {
        (0..<count).map { i in #"{"n":\#(i),"pad":"\#(String(repeating: "x", count: i % 300))"}"# }
    }

    func roundTrip(_ path: String, _ input: [String], crlf: Bool = false) throws -> [String] {
        let w = try FileWriter(path: path)
        for l in input { try w.write(Array((l + (crlf ? "\r\n" : "\n")).utf8)) }
        try w.close()
        var out: [String] = []
        let reader = try NDJSONReader(path: path, bufferSize: 4096) // small buffer: lines straddle reads
        try reader.forEach { b, _, _ in out.append(String(decoding: b, as: UTF8.self)) }
        return out
    }

    @Test func plainAndZstdRoundTrip() throws {
        let input = lines(count: 20_000)
        #expect(try roundTrip(tempPath("a.ndjson"), input) == input)
        let zst = tempPath("a.ndjson.zst")
        #expect(try roundTrip(zst, input) == input)
        #expect(try roundTrip(tempPath("b.ndjson"), input, crlf: true) == input)
        // A tool we did not write reads our zstd stream.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
        p.arguments = ["-dc", zst]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(String(decoding: data, as: UTF8.self) == input.joined(separator: "\n") + "\n")
    }

    @Test func longLinesGrowTheBufferAndPositionsAreKept() throws {
        let big = String(repeating: "y", count: 3 << 20)
        let input = ["a", big, "b"]
        let path = tempPath("big.ndjson")
        #expect(try roundTrip(path, input) == input)
        var seen: [(Int64, Int64)] = []
        try NDJSONReader(path: path).forEach { _, line, offset in seen.append((line, offset)) }
        #expect(seen.map(\.0) == [1, 2, 3])
        #expect(seen.map(\.1) == [0, 2, Int64(big.count) + 3])
    }

    @Test func truncatedZstdIsAnError() throws {
        let path = tempPath("t.ndjson.zst")
        let w = try FileWriter(path: path)
        for l in lines(count: 5000) { try w.write(Array((l + "\n").utf8)) }
        try w.close()
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        #expect(throws: IOError.self) { try NDJSONReader(path: path).forEach { _, _, _ in } }
    }
}

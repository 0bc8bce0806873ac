import ArgumentParser
import Domain
import Foundation
import Ingest

/// `wakala inspect FILE`: valid and rejected counts of an NDJSON stream.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Count the valid events by type and the rejected records by reason in an NDJSON[.zst] file.")

    @Argument(help: "An .ndjson or .ndjson.zst file.") var file: String
    @Flag(help: "Print JSON: {\"valid\": n, \"by_type\": {...}, \"rejected\": {\"reason\": n}}.") var json = false
    @Option(help: "Also print the first N rejected records with their line and detail.") var showRejected: Int = 0

    func run() throws {
        guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("no such file: \(file)") }
        let reader = try NDJSONReader(path: file)
        let decoder = EventDecoder()
        var valid = 0
        var byType: [String: Int] = [:]
        var rejected: [String: Int] = [:]
        var shown = 0
        try reader.forEach { bytes, line, _ in
            switch decoder.decode(bytes) {
            case .success(let e):
                valid += 1
                byType[e.type.rawValue, default: 0] += 1
            case .failure(let r):
                rejected[r.reason.rawValue, default: 0] += 1
                if shown < showRejected {
                    shown += 1
                    note("line \(line): \(r.reason.rawValue): \(r.detail)")
                }
            }
        }
        if json {
            let obj: [String: Any] = ["valid": valid, "by_type": byType, "rejected": rejected]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("valid: \(valid)")
            for (t, n) in byType.sorted(by: { $0.key < $1.key }) { print("  \(t): \(n)") }
            print("rejected: \(rejected.values.reduce(0, +))")
            for (r, n) in rejected.sorted(by: { $0.key < $1.key }) { print("  \(r): \(n)") }
        }
    }
}

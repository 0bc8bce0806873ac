import ArgumentParser
import Foundation
import Operators

/// `wakala test DIR`: runs every scenario file under DIR (YAML files with a `scenario:` key).
struct TestScenarios: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the replayed-stream scenarios under a folder; print a diff for each failure; exit 1 if any fails.")

    @Argument(help: "A folder of scenario files (or one file). Every YAML file under it that is not a pipeline file (top-level sources: or operators:) must be a scenario; one that cannot be read as one fails.") var path: String

    func run() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ValidationError("no such file or folder: \(path)") }
        var files: [String] = []
        if isDir.boolValue {
            let e = FileManager.default.enumerator(atPath: path)
            while let f = e?.nextObject() as? String {
                if f.hasSuffix(".yaml") || f.hasSuffix(".yml") { files.append((path as NSString).appendingPathComponent(f)) }
            }
        } else {
            files = [path]
        }
        // Pipeline files may sit beside the scenarios; every other YAML file is taken for a
        // scenario, so one that cannot be read as one (a misspelt `scenario:`) fails, not vanishes.
        files = files.filter { !isDir.boolValue || !Scenario.isPipeline(path: $0) }.sorted()
        guard !files.isEmpty else { throw ValidationError("no scenario files (YAML with a scenario: key) under \(path)") }
        var passed = 0, failed = 0
        for f in files {
            do {
                let s = try Scenario.load(path: f)
                let outcome = try s.run()
                if outcome.passed {
                    passed += 1
                    print("✓ \(s.name) (\(f))")
                } else {
                    failed += 1
                    print("✗ \(s.name) (\(f))\n\(outcome.diff)", terminator: "")
                }
            } catch {
                failed += 1
                print("✗ \(f)\n  \(error)")
            }
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

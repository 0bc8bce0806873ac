import CSupport
import ArgumentParser
import Domain
import Foundation

/// A duration flag such as `20s`, `5m`, `1h30m`.
struct DurationArg: ExpressibleByArgument {
    var millis: Int64
    init?(argument: String) {
        guard let ms = DurationText.parseMillis(argument) else { return nil }
        millis = ms
    }
    init(millis: Int64) { self.millis = millis }
    var defaultValueDescription: String { DurationText.format(millis) }
}

/// The value of environment variable `name`, if set and not empty.
func env(_ name: String) -> String? {
    guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
    return v
}

/// Writes a line to standard error.
func note(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// A runtime failure: message on stderr, exit code 1.
struct RuntimeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Seconds since an arbitrary start, for progress and rates.
func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// The allocator (jemalloc) tuned for a pipeline that runs for months: freed pages go back to
/// the system within a second, by jemalloc's background thread, so RSS follows the live state
/// (what a checkpoint's cut frees is returned, not kept for a later peak). Called before any
/// thread starts, by the commands that run a pipeline.
func tuneMalloc() {
    _ = wakala_tune_malloc()
}

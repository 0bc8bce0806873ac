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

/// glibc keeps up to 8 malloc arenas per core; memory one thread frees (a checkpoint's cut, freed
/// by the writer thread) stays in the arena that allocated it, so a long run's RSS creeps up
/// with history though the live state does not. Two arenas (one run each: 60 days vs 30 days of
/// the same stream 1.09× peak RSS with, 1.13× without; later runs vary 1.10–1.16×, see
/// docs/decisions.md). Called before any thread starts, by the commands that run a pipeline.
func limitMallocArenas() {
    _ = wakala_limit_malloc_arenas(2)
}

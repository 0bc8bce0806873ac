import ArgumentParser
import Foundation
import Logging

/// `--log-level` and `--log-format` of the long-running commands (swift-log).
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Option(help: "Log format: text, or json (one object per line, for log shippers).") var logFormat: String = "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
    }

    /// Installs the format (once per process) and returns a logger at the level.
    func logger(_ label: String, defaultLevel: Logger.Level? = nil) -> Logger {
        let json = logFormat == "json"
        LoggingOptions.bootstrapOnce(json: json)
        var l = Logger(label: label)
        l.logLevel = Logger.Level(rawValue: logLevel) ?? defaultLevel ?? .info
        return l
    }

    nonisolated(unsafe) private static var bootstrapped = false
    private static let lock = NSLock()
    static func bootstrapOnce(json: Bool) {
        lock.lock()
        defer { lock.unlock() }
        guard !bootstrapped else { return }
        bootstrapped = true
        if json { LoggingSystem.bootstrap { JSONLogHandler(label: $0) } } else { LoggingSystem.bootstrap(StreamLogHandler.standardError) }
    }
}

/// One JSON object per line on standard error: time, level, logger, message, metadata, source.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: Any] = [
            "ts": ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withInternetDateTime, .withFractionalSeconds]),
            "level": event.level.rawValue, "logger": label, "message": event.message.description, "source": event.source,
        ]
        if let e = event.error { fields["error"] = "\(e)" }
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { fields[k] = v.description }
        guard var data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0A)
        FileHandle.standardError.write(data)
    }
}

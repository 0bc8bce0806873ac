import ArgumentParser
import Foundation
import Ingest
import Lifecycle

/// `wakala`: the Wakala Stream command line (CONTRACT §3.1).
@main
struct Wakala: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wakala",
        abstract: "Wakala Stream: streaming analytics for township commerce.",
        discussion: """
        Flags can also come from the environment: WAKALA_KAFKA_BROKERS, WAKALA_POSTGRES_URL, WAKALA_DATA_DIR, WAKALA_JWT_SECRET.

        Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
        """,
        version: Wakala.version,
        subcommands: [Demo.self, Run.self, Generate.self, Inspect.self, Broker.self, Validate.self, Docs.self, Graph.self, Replay.self, TestScenarios.self, QueryCommand.self, ServeCommand.self, GatewayCommand.self, Bench.self]
    )

    /// This build's version (`wakala --version`): raised with each release of the contract.
    static let version = "0.15.0"

    /// Runs the command, mapping errors to the contract's exit codes: 2 for usage and
    /// configuration errors (ArgumentParser's own 64 included), 1 for runtime failures.
    static func main() {
        // A first word that is no command (`wakala reconcile --help`): ArgumentParser would take
        // it as an argument of the root and print the root's help, exit 0.
        let args = Array(CommandLine.arguments.dropFirst())
        if let first = args.first, !first.hasPrefix("-"), first != "help" {
            let names = configuration.subcommands.compactMap { $0.configuration.commandName ?? String(describing: $0).lowercased() }
            if !names.contains(first) {
                let close = names.filter { $0.hasPrefix(String(first.prefix(2))) }
                FileHandle.standardError.write(Data(("wakala: unknown command '\(first)'" +
                    (close.isEmpty ? "" : " (did you mean \(close.map { "'\($0)'" }.joined(separator: " or "))?)") +
                    "; the commands are \(names.joined(separator: ", ")) (wakala --help)\n").utf8))
                Foundation.exit(2)
            }
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue) // the command has already said why
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data(("wakala: " + message + "\n").utf8))
            Foundation.exit(code == .validationFailure || error is ValidationError || error is SettingError ? 2 : 1)
        }
    }
}

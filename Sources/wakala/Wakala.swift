import ArgumentParser
import Foundation
import Ingest

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
        subcommands: [Demo.self, Run.self, Generate.self, Inspect.self, Broker.self, Validate.self, Graph.self, Replay.self, TestScenarios.self, QueryCommand.self, ServeCommand.self, GatewayCommand.self, Bench.self]
    )

    /// Runs the command, mapping errors to the contract's exit codes: 2 for usage and
    /// configuration errors (ArgumentParser's own 64 included), 1 for runtime failures.
    static func main() {
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

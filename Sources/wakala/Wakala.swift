import ArgumentParser

/// `wakala`: the Wakala Stream command line (CONTRACT §3.1).
@main
struct Wakala: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wakala",
        abstract: "Wakala Stream: streaming analytics for township commerce.",
        discussion: """
        Flags can also come from the environment: WAKALA_KAFKA_BROKERS, WAKALA_POSTGRES_URL,
        WAKALA_DATA_DIR. Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
        """,
        subcommands: [Generate.self, Inspect.self, Broker.self, Bench.self]
    )
}

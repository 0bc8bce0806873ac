import ArgumentParser
import Domain
import Foundation
import Query
import Sinks

/// `wakala query`: the dashboard JSON of `GET /v1/dashboard` from the command line (CONTRACT
/// §3.2), read from the committed read models — no server, no token.
struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "query",
        abstract: "Print a tenant's dashboard JSON (as GET /v1/dashboard) from the committed read models.",
        discussion: """
        --from and --to are RFC 3339 times aligned to the granularity in the tenant's timezone \
        (e.g. 2026-03-01T00:00:00+02:00), at most 400 days apart. Exit 2 on a bad parameter.
        """)

    @Option(help: "The tenant.") var tenant: String
    @Option(help: "Start of the range (inclusive), RFC 3339.") var from: String
    @Option(help: "End of the range (exclusive), RFC 3339.") var to: String
    @Option(help: "hour or day.") var granularity: String = "day"
    @Option(help: "Postgres URL (env WAKALA_POSTGRES_URL).") var postgres: String?

    func run() throws {
        guard let url = postgres ?? env("WAKALA_POSTGRES_URL") else {
            note("wakala query: no Postgres (--postgres or WAKALA_POSTGRES_URL)")
            throw ExitCode(2)
        }
        let store = RollupStore(pool: ConnectionPool(url: url, size: 1))
        let r = try store.rollups(tenant)
        do {
            let range = try Dashboard.range(from: from, to: to, granularity: granularity, zone: r.zone)
            print(Dashboard.answer(r, from: range.from, to: range.to, granularity: range.granularity).text)
        } catch let e as QueryError {
            note("wakala query: \(e.message)")
            throw ExitCode(2)
        }
    }
}

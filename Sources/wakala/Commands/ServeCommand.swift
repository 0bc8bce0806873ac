import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import Serve

/// `wakala serve`: the dashboard API and web page over the committed read models (CONTRACT §3.2).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve",
        abstract: "Serve the dashboard API (/v1/...), the web dashboard (/), /healthz, /readyz, /metrics and /openapi.json.",
        discussion: """
        Reads the read models the pipeline committed (Postgres: WAKALA_POSTGRES_URL) and sees each \
        new checkpoint within a second (LISTEN/NOTIFY). Tokens: HS256 signed with WAKALA_JWT_SECRET, \
        or RS256 with --jwt-public-key; claims exp and tenant_id (letters, digits, _ - . :), nbf and \
        iat honoured with 60 s leeway, iss and aud checked when --jwt-issuer / --jwt-audience name \
        them; role platform_admin may pass ?tenant_id= (its reads count against the admin's own \
        limit). Slow clients are cut: 10 s for a request's headers, 30 s for its body, 60 s idle. Prints `listening: http://HOST:PORT` once it accepts connections; SIGINT/SIGTERM \
        finish the requests in flight and exit 0.
        """)

    @Option(help: "Address to bind (loopback by default).") var host: String = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed).") var port: Int = 8080
    @Option(help: "Postgres URL (env WAKALA_POSTGRES_URL).") var postgres: String?
    @Option(help: "PEM file with an RSA public key for RS256 tokens.") var jwtPublicKey: String?
    @Option(help: "Accept only tokens whose iss claim is this.") var jwtIssuer: String?
    @Option(help: "Accept only tokens whose aud claim names this.") var jwtAudience: String?
    @Option(help: "Per-tenant rate limits by tier: on, or off (for load benchmarks only).") var rateLimits: String = "on"
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        guard let url = postgres ?? env("WAKALA_POSTGRES_URL") else {
            note("wakala serve: no Postgres (--postgres or WAKALA_POSTGRES_URL)")
            throw ExitCode(2)
        }
        let secret = env("WAKALA_JWT_SECRET")
        let pem = try jwtPublicKey.map { try String(contentsOfFile: $0, encoding: .utf8) }
        guard secret != nil || pem != nil else {
            note("wakala serve: no token key (WAKALA_JWT_SECRET for HS256, or --jwt-public-key FILE for RS256)")
            throw ExitCode(2)
        }
        if let secret, secret.utf8.count < 32 {
            note("wakala serve: WAKALA_JWT_SECRET is \(secret.utf8.count) bytes; HS256 needs at least 32 (e.g. openssl rand -hex 32)")
            throw ExitCode(2)
        }
        guard ["on", "off"].contains(rateLimits) else { throw ValidationError("--rate-limits must be on or off") }
        var settings = ServeSettings(postgresURL: url)
        settings.host = host
        settings.port = port
        settings.jwtSecret = secret
        settings.rsaPublicKeyPEM = pem
        settings.jwtIssuer = jwtIssuer
        settings.jwtAudience = jwtAudience
        settings.rateLimits = rateLimits == "on"
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Dashboard answers take about a millisecond: buckets from 0.25 ms.
        factory.defaultDurationHistogramBuckets = [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                                                   .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                                   .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
        MetricsSystem.bootstrap(factory)
        let logger = logging.logger("wakala.serve")
        let log = logger, fixed = settings
        do {
            try awaitSync {
                let server = try await DashboardServer(fixed, registry: registry, logger: log)
                if !fixed.rateLimits { log.warning("rate limits are off (--rate-limits off): for load benchmarks only") }
                try await server.run { port in
                    FileHandle.standardOutput.write(Data("listening: http://\(fixed.host):\(port)\n".utf8))
                }
            }
        } catch let e as ListenFailure {
            note("wakala serve: \(e)")
            throw ExitCode(2)
        } catch { throw RuntimeFailure("wakala serve: \(error)") }
    }
}

import ArgumentParser
import Foundation
import Gateway
import Logging
import Metrics
import Prometheus
import Serve

/// `wakala gateway`: WhatsApp Cloud API and Paystack webhooks into Kafka (CONTRACT §3.1).
struct GatewayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway",
        abstract: "Receive WhatsApp and Paystack webhooks, verify their signatures, produce contract events to Kafka.",
        discussion: """
        GET /webhooks/whatsapp answers the verification handshake (WAKALA_WHATSAPP_VERIFY_TOKEN). \
        POST /webhooks/whatsapp needs X-Hub-Signature-256 (HMAC-SHA256 with \
        WAKALA_WHATSAPP_APP_SECRET): one whatsapp.message.received per message on whatsapp.inbound, \
        keyed by tenant (from --tenants). POST /webhooks/paystack needs x-paystack-signature \
        (HMAC-SHA512 with WAKALA_PAYSTACK_SECRET): charge.success → payment.succeeded, \
        refund.processed → payment.refunded on payments. A webhook is answered 200 only once Kafka \
        acknowledged all its records (idempotent producer, acks=all); 503 when Kafka does not within \
        --ack-timeout; 401 bad signature, 400 not the sender's JSON, 413 over 1 MiB. Unknown phone \
        numbers and unsupported message types go to wakala.dlq with a reason. Prints \
        `listening: http://HOST:PORT`; SIGINT/SIGTERM finish in-flight webhooks and exit 0.
        """)

    @Option(help: "Address to bind (loopback by default).") var host: String = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed).") var port: Int = 8081
    @Option(help: "Kafka bootstrap servers (env WAKALA_KAFKA_BROKERS).") var brokers: String?
    @Option(help: "YAML mapping of WhatsApp phone_number_id (quoted) → tenant_id.") var tenants: String?
    @Option(help: "How long a webhook waits for Kafka's acknowledgement before 503, e.g. 5s.") var ackTimeout: DurationArg = DurationArg(millis: 5_000)
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        guard let brokers = brokers ?? env("WAKALA_KAFKA_BROKERS") else {
            note("wakala gateway: no Kafka (--brokers or WAKALA_KAFKA_BROKERS)")
            throw ExitCode(2)
        }
        var settings = GatewaySettings(brokers: brokers)
        settings.host = host
        settings.port = port
        settings.whatsappAppSecret = env("WAKALA_WHATSAPP_APP_SECRET")
        settings.whatsappVerifyToken = env("WAKALA_WHATSAPP_VERIFY_TOKEN")
        settings.paystackSecret = env("WAKALA_PAYSTACK_SECRET")
        settings.ackTimeoutMs = Int(ackTimeout.millis)
        if settings.whatsappAppSecret == nil && settings.paystackSecret == nil {
            note("wakala gateway: set WAKALA_WHATSAPP_APP_SECRET and/or WAKALA_PAYSTACK_SECRET (webhooks without a secret are refused)")
            throw ExitCode(2)
        }
        if let tenants {
            do { settings.tenants = try GatewaySettings.loadTenants(tenants) } catch {
                note("wakala gateway: \(error)")
                throw ExitCode(2)
            }
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                                   .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                                   .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
        MetricsSystem.bootstrap(factory)
        let logger = logging.logger("wakala.gateway")
        let server = try GatewayServer(settings, registry: registry, logger: logger)
        if settings.tenants.isEmpty { logger.warning("no --tenants file: every WhatsApp message will be dead-lettered as unknown_phone_number") }
        let fixedHost = host
        do {
            try awaitSync {
                try await server.run { port in
                    FileHandle.standardOutput.write(Data("listening: http://\(fixedHost):\(port)\n".utf8))
                }
            }
        } catch let e as ListenFailure {
            note("wakala gateway: \(e)")
            throw ExitCode(2)
        } catch { throw RuntimeFailure("wakala gateway: \(error)") }
    }
}

import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import Metrics
import Prometheus
import Query
import Serve
import ServiceLifecycle
import Yams

/// `wakala gateway` settings: secrets come from the environment only.
public struct GatewaySettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8081
    public var brokers: String
    public var whatsappAppSecret: String?
    public var whatsappVerifyToken: String?
    public var paystackSecret: String?
    public var tenants: [String: String] = [:]
    /// How long a webhook may wait for Kafka's acknowledgement before it is answered 503.
    public var ackTimeoutMs = 5_000
    public init(brokers: String) { self.brokers = brokers }

    /// The tenants file: a YAML mapping of WhatsApp `phone_number_id` (a quoted string) → tenant.
    public static func loadTenants(_ path: String) throws -> [String: String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let node = try Yams.compose(yaml: text), let map = node.mapping else {
            throw MalformedWebhook("\(path): expected a mapping of phone_number_id → tenant_id")
        }
        var out: [String: String] = [:]
        for (k, v) in map {
            guard let id = k.string, let tenant = v.string, !tenant.isEmpty else {
                throw MalformedWebhook("\(path):\(k.mark?.line ?? 0): each entry must be \"phone_number_id\": tenant_id")
            }
            // An unquoted number loses leading zeros or turns into a float: require a quoted key.
            if case .scalar(let s) = k, s.style == .plain, Double(id) != nil {
                throw MalformedWebhook("\(path):\(k.mark?.line ?? 0): quote the phone_number_id \(id) (\"\(id)\"): unquoted, YAML reads it as a number")
            }
            out[id] = tenant
        }
        return out
    }
}

/// The webhook gateway (component architecture §2.3.1): verify, translate, hand to Kafka, and
/// answer 200 only once Kafka acknowledged every record (never for a webhook that could be lost).
public final class GatewayServer: Sendable {
    public let settings: GatewaySettings
    let producer: AckedProducer
    let translator: WebhookTranslator
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    public static let maxBody = 1 << 20

    public init(_ settings: GatewaySettings, registry: PrometheusCollectorRegistry, logger: Logger) throws {
        self.settings = settings
        producer = try AckedProducer(brokers: settings.brokers, timeoutMs: settings.ackTimeoutMs)
        translator = WebhookTranslator(tenants: settings.tenants)
        self.registry = registry
        self.logger = logger
    }

    static func isRoute(_ path: String) -> Bool {
        ["/webhooks/whatsapp", "/webhooks/paystack", "/healthz", "/readyz", "/metrics"].contains(path)
    }

    func count(_ source: String, _ outcome: String, _ n: Int = 1) {
        guard n > 0 else { return }
        Counter(label: "wakala_gateway_webhooks_total", dimensions: [("source", source), ("outcome", outcome)]).increment(by: n)
    }

    /// Signed, translated, delivered: the shared path of both webhooks.
    func deliver(_ source: String, _ request: Request, verify: ([UInt8]) -> Bool,
                 translate: ([UInt8]) throws -> WebhookOutcome) async throws -> Response {
        let buffer = try await request.body.collect(upTo: Self.maxBody)
        let body = Array(buffer.readableBytesView)
        guard verify(body) else {
            count(source, "bad_signature")
            throw APIError(status: .unauthorized, code: "bad_signature", message: "the signature header is missing or does not match the body")
        }
        let outcome: WebhookOutcome
        do { outcome = try translate(body) } catch let e as MalformedWebhook {
            count(source, "malformed")
            throw APIError.bad(e.description)
        }
        do {
            try await producer.send(outcome.records)
        } catch {
            count(source, "kafka_unavailable")
            logger.warning("\(source) webhook not acknowledged: Kafka did not confirm its \(outcome.records.count) records (\(error)); answering 503 so the sender retries")
            throw APIError(status: .serviceUnavailable, code: "kafka_unavailable",
                           message: "Kafka did not acknowledge the records within \(settings.ackTimeoutMs) ms; retry later", retryAfter: 5)
        }
        count(source, "accepted")
        Counter(label: "wakala_gateway_events_total", dimensions: [("source", source)]).increment(by: outcome.events)
        Counter(label: "wakala_gateway_dead_letters_total", dimensions: [("source", source)]).increment(by: outcome.deadLetters)
        for (kind, n) in outcome.ignored {
            Counter(label: "wakala_gateway_ignored_total", dimensions: [("source", source), ("kind", kind)]).increment(by: n)
        }
        return DashboardServer.json(.object([("status", .string("accepted")), ("events", .int(Int64(outcome.events))),
                                             ("dead_letters", .int(Int64(outcome.deadLetters))),
                                             ("ignored", .int(Int64(outcome.ignored.values.reduce(0, +))))]))
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: APIMiddleware(allow: "GET, HEAD, POST", isRoute: { Self.isRoute($0) }))
        let s = settings
        router.getAndHead("/healthz") { _, _ in DashboardServer.json(.object([("status", .string("ok"))])) }
        router.getAndHead("/readyz") { [producer, logger] _, _ in
            let ok = try await offloop { producer.reachable() }
            // Unauthenticated: says whether, never where or why (that goes to the log).
            guard ok else {
                logger.warning("not ready: Kafka at \(s.brokers) does not answer")
                return DashboardServer.json(.object([("ready", .bool(false))]), status: .serviceUnavailable)
            }
            return DashboardServer.json(.object([("ready", .bool(true)), ("status", .string("ready"))]))
        }
        let registry = self.registry
        router.getAndHead("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        // The Cloud API's verification handshake.
        router.getAndHead("/webhooks/whatsapp") { request, _ in
            let q = request.uri.queryParameters
            guard let expected = s.whatsappVerifyToken, q.get("hub.mode") == "subscribe", let token = q.get("hub.verify_token"),
                  Array(token.utf8).count == Array(expected.utf8).count,
                  zip(token.utf8, expected.utf8).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0,
                  let challenge = q.get("hub.challenge") else {
                throw APIError(status: .forbidden, code: "verification_failed", message: "hub.mode must be subscribe with the right hub.verify_token")
            }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: challenge)))
        }
        router.post("/webhooks/whatsapp") { [self] request, _ in
            guard let secret = s.whatsappAppSecret else { throw APIError(status: .serviceUnavailable, code: "not_configured", message: "WAKALA_WHATSAPP_APP_SECRET is not set") }
            let key = Array(secret.utf8)
            let header = request.headers[HTTPField.Name("X-Hub-Signature-256")!]
            return try await deliver("whatsapp", request, verify: { Signatures.whatsapp(header, body: $0, secret: key) },
                                     translate: { try translator.whatsapp($0) })
        }
        router.post("/webhooks/paystack") { [self] request, _ in
            guard let secret = s.paystackSecret else { throw APIError(status: .serviceUnavailable, code: "not_configured", message: "WAKALA_PAYSTACK_SECRET is not set") }
            let key = Array(secret.utf8)
            let header = request.headers[HTTPField.Name("x-paystack-signature")!]
            return try await deliver("paystack", request, verify: { Signatures.paystack(header, body: $0, secret: key) },
                                     translate: { try translator.paystack($0) })
        }
        return router
    }

    /// The HTTP server as a service of a ServiceGroup (swift-service-lifecycle); a port it cannot
    /// listen on fails as a ``ListenFailure`` naming `setting`.
    public func service(setting: String = "--port", onListening: @escaping @Sendable (Int) -> Void) -> any Service {
        Listener(Application(router: router(),
                             server: HTTPHardening.server,
                             configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "wakala-gateway"),
                             onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
                             logger: logger),
                 host: settings.host, port: settings.port, setting: setting)
    }

    /// Waits for Kafka to take what is in flight (after the service stopped).
    public func close() { producer.close() }

    /// Serves until SIGINT/SIGTERM, then waits for Kafka to take what is in flight.
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [service(onListening: onListening)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        producer.close()
    }
}

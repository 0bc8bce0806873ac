import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Prometheus
import Query
import ServiceLifecycle

/// `wakala serve` (CONTRACT §3.2): the dashboard API, the web page, health, metrics and the
/// OpenAPI document, over the committed read models. Every `/v1` path needs a bearer token and
/// reads only its tenant's rows.
public struct ServeSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var postgresURL: String
    public var jwtSecret: String?
    public var rsaPublicKeyPEM: String?
    /// Required `iss` and `aud` of tokens, when set.
    public var jwtIssuer: String?
    public var jwtAudience: String?
    /// Per-tenant rate limits by tier; off only for load benchmarks.
    public var rateLimits = true
    public var connections = 4
    /// "Now" for the live tiles (the demo runs its own clock).
    public var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    public init(postgresURL: String) { self.postgresURL = postgresURL }
}

/// An error answered as `{"error": {"code", "message"}}` with its status.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var retryAfter: Int?

    public init(status: HTTPResponse.Status, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status; self.code = code; self.message = message; self.retryAfter = retryAfter
    }

    public static func bad(_ m: String) -> APIError { APIError(status: .badRequest, code: "bad_request", message: m) }
    public static func unauthorized(_ m: String) -> APIError { APIError(status: .unauthorized, code: "unauthorized", message: m) }
    public static func forbidden(_ m: String) -> APIError { APIError(status: .forbidden, code: "forbidden", message: m) }
    public static func notFound(_ m: String) -> APIError { APIError(status: .notFound, code: "not_found", message: m) }

    public var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let r = retryAfter { headers[.retryAfter] = String(r) }
        let body = JSONText.object([("error", .object([("code", .string(code)), ("message", .string(message))]))]).text
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Per-tenant request limits per minute by tier (basic 100, premium 1000, enterprise 10000):
/// fixed one-minute windows; over the limit, the seconds until the window ends.
public final class RateLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private var windows: [String: (minute: Int64, count: Int)] = [:]

    public static func limit(tier: String) -> Int {
        switch tier {
        case "enterprise": return 10_000
        case "premium": return 1_000
        default: return 100
        }
    }

    /// Counts a request; nil when allowed, else the Retry-After seconds.
    public func take(_ tenant: String, tier: String, now: Int64) -> Int? {
        let minute = now / 60_000
        lock.lock()
        defer { lock.unlock() }
        var w = windows[tenant] ?? (minute, 0)
        if w.minute != minute { w = (minute, 0) }
        if w.count >= Self.limit(tier: tier) {
            windows[tenant] = w
            return Int(((minute + 1) * 60_000 - now + 999) / 1000)
        }
        w.count += 1
        windows[tenant] = w
        return nil
    }
}

/// Runs `body` (blocking libpq calls) off the event loops.
public func offloop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async {
            do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
        }
    }
}

/// Requests and their latency per route, method and status (Prometheus through swift-metrics),
/// our JSON errors for whatever a handler throws, and a request id on every response.
public struct APIMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Whether a path is served (another method on it is 405, not 404).
    let isRoute: @Sendable (String) -> Bool
    /// The methods a served path takes (the `Allow` header of a 405).
    let allow: String
    static var requestID: HTTPField.Name { HTTPField.Name("X-Request-Id")! }
    static var referrerPolicy: HTTPField.Name { HTTPField.Name("Referrer-Policy")! }
    static var frameOptions: HTTPField.Name { HTTPField.Name("X-Frame-Options")! }

    public init(allow: String = "GET, HEAD", isRoute: @escaping @Sendable (String) -> Bool) {
        self.allow = allow
        self.isRoute = isRoute
    }

    /// The page's Content-Security-Policy: its own inline script and style only (by hash for the
    /// script), no other origin, no framing, no forms, no base URL.
    static var pagePolicy: String { DashboardPage.contentSecurityPolicy }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var response: Response
        // HEAD is GET without the body, on every GET route (``RouterMethods/getAndHead(_:use:)``).
        let isHead = request.method == .head
        do {
            response = try await next(request, context)
        } catch let e as APIError {
            response = e.response
        } catch let e as QueryError {
            response = (e.kind == .notFound ? APIError.notFound(e.message) : APIError.bad(e.message)).response
        } catch let e as HTTPError where e.status == .notFound {
            if isRoute(request.uri.path) {
                var r = APIError(status: .methodNotAllowed, code: "method_not_allowed", message: "\(request.method) is not allowed here; use \(allow)").response
                r.headers[.allow] = allow
                response = r
            } else {
                response = APIError.notFound("no such path: \(request.uri.path)").response
            }
        } catch let e as any HTTPResponseError where e.status == .contentTooLarge {
            response = APIError(status: .contentTooLarge, code: "payload_too_large", message: "the body is over the limit of 1 MiB").response
        } catch let e as HTTPError {
            response = APIError(status: e.status, code: "http_\(e.status.code)", message: e.body ?? e.status.reasonPhrase).response
        } catch let e as any HTTPResponseError {
            response = APIError(status: e.status, code: "http_\(e.status.code)", message: e.status.reasonPhrase).response
        } catch {
            context.logger.error("request failed: \(error)")
            response = APIError(status: .serviceUnavailable, code: "unavailable",
                                message: "a backing service (Postgres or Kafka) cannot be reached; try again shortly").response
        }
        let route = context.endpointPath ?? "unmatched"
        let dims = [("route", route), ("method", request.method.rawValue), ("status", String(response.status.code))]
        Counter(label: "wakala_http_requests_total", dimensions: dims).increment()
        Timer(label: "wakala_http_request_duration_seconds", dimensions: dims)
            .recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
        if let id = context.logger[metadataKey: "hb.request.id"] { response.headers[Self.requestID] = id.description }
        // Security headers everywhere; tenant data is never cached; the page gets its policy.
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.frameOptions] = "DENY"
        response.headers[Self.referrerPolicy] = "no-referrer"
        if request.uri.path.hasPrefix("/v1/") { response.headers[.cacheControl] = "no-store" }
        if response.headers[.contentType]?.hasPrefix("text/html") == true { response.headers[.contentSecurityPolicy] = Self.pagePolicy }
        if isHead {
            let length = response.headers[.contentLength]
            response.body = ResponseBody()
            response.headers[.contentLength] = length
        }
        if response.status.code >= 500 || response.status == .tooManyRequests {
            context.logger.warning("\(request.method) \(request.uri.path) → \(response.status.code)")
        } else {
            context.logger.debug("\(request.method) \(request.uri.path) → \(response.status.code)")
        }
        return response
    }
}

/// The server: routes, auth, limits. ``run(onListening:)`` serves until SIGINT/SIGTERM.
public final class DashboardServer: Sendable {
    public let settings: ServeSettings
    let pool: ConnectionPool
    public let store: RollupStore
    let verifier: TokenVerifier
    let limiter = RateLimiter()
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    public init(_ settings: ServeSettings, registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        self.settings = settings
        pool = ConnectionPool(url: settings.postgresURL, size: settings.connections)
        store = RollupStore(pool: pool)
        var verifier = try await TokenVerifier(secret: settings.jwtSecret, publicKeyPEM: settings.rsaPublicKeyPEM)
        verifier.issuer = settings.jwtIssuer
        verifier.audience = settings.jwtAudience
        self.verifier = verifier
        self.registry = registry
        self.logger = logger
    }

    static let idPattern = "letters, digits and _ - . : (at most 128)"

    /// Whether a path is one of ours (another method on it is 405, not 404).
    static func isRoute(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if ["/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/dashboard", "/v1/orders", "/v1/usage", "/v1/live"].contains(path) { return true }
        return parts.count == 4 && parts[0].isEmpty && parts[1] == "v1" && ["orders", "deliveries"].contains(parts[2]) && !parts[3].isEmpty
    }

    /// An id from a path or query: a strict character set, so nothing path- or SQL-like passes.
    static func checkID(_ v: String?, _ name: String) throws -> String {
        // Path parameters arrive percent-encoded.
        let v = v.map { $0.removingPercentEncoding ?? $0 }
        guard let v, !v.isEmpty, v.utf8.count <= 128,
              v.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "_-.:".unicodeScalars.contains($0) })
        else { throw APIError.bad("\(name) must be \(idPattern)") }
        return v
    }

    /// Who is asking and for which tenant: the token's tenant, or `?tenant_id=` for a platform
    /// admin (403 for anyone else naming another tenant). Then the tenant's rate limit.
    func caller(_ request: Request) async throws -> (tenant: String, rollups: TenantRollups) {
        guard let auth = request.headers[.authorization] else { throw APIError.unauthorized("missing bearer token") }
        let parts = auth.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'") }
        let claims: DashboardClaims
        do { claims = try await verifier.verify(String(parts[1])) } catch let e as TokenVerifier.Refused {
            throw APIError.unauthorized(e.description)
        }
        var tenant = claims.tenant_id
        if let asked = request.uri.queryParameters.get("tenant_id") {
            let t = try Self.checkID(asked, "tenant_id")
            if t != tenant && !claims.isPlatformAdmin { throw APIError.forbidden("this token may read tenant \(tenant) only") }
            tenant = t
        }
        let store = self.store, asked = tenant
        let r: TenantRollups
        if let cached = store.current(asked) { r = cached } else { r = try await offloop { try store.rollups(asked) } }
        // A platform admin's reads count against the admin (at the enterprise limit), never
        // against the tenant it looks at: an admin cannot use up a merchant's minute.
        let (bucket, tier, who) = claims.isPlatformAdmin ? ("admin:" + claims.tenant_id, "enterprise", "platform admin \(claims.tenant_id)")
                                                         : (tenant, r.tier, "tenant \(tenant)")
        if settings.rateLimits, let wait = limiter.take(bucket, tier: tier, now: Int64(Date().timeIntervalSince1970 * 1000)) {
            var e = APIError(status: .tooManyRequests, code: "rate_limited",
                             message: "\(who) (\(tier)) is over \(RateLimiter.limit(tier: tier)) requests per minute")
            e.retryAfter = wait
            throw e
        }
        return (tenant, r)
    }

    public static func json(_ v: JSONText, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: v.text)))
    }

    func intParam(_ request: Request, _ name: String, default d: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.uri.queryParameters.get(name) else { return d }
        guard let v = Int(text), range.contains(v) else { throw APIError.bad("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: APIMiddleware(isRoute: { path in Self.isRoute(path) }))
        let pool = self.pool
        router.getAndHead("/healthz") { _, _ in Self.json(.object([("status", .string("ok"))])) }
        router.getAndHead("/readyz") { [logger] _, _ in
            do {
                let n = try await offloop { try pool.with { db in
                    try db.query("SELECT count(*) FROM wakala.schema_migrations").rows.first?[0].flatMap { Int($0) } ?? 0
                } }
                return Self.json(.object([("ready", .bool(true)), ("status", .string("ready")), ("migrations", .int(Int64(n)))]))
            } catch {
                // Unauthenticated: says whether, never where or why (libpq's text names hosts).
                logger.warning("not ready: Postgres is not reachable or not migrated: \(error)")
                return Self.json(.object([("ready", .bool(false))]), status: .serviceUnavailable)
            }
        }
        let registry = self.registry
        router.getAndHead("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.getAndHead("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        router.getAndHead("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        router.getAndHead("/v1/dashboard") { [self] request, _ in
            let c = try await caller(request)
            let q = request.uri.queryParameters
            let range = try Dashboard.range(from: q.get("from"), to: q.get("to"), granularity: q.get("granularity"), zone: c.rollups.zone)
            return Self.json(Dashboard.answer(c.rollups, from: range.from, to: range.to, granularity: range.granularity))
        }
        router.getAndHead("/v1/orders/:order_id") { [self] request, context in
            let c = try await caller(request)
            let id = try Self.checkID(context.parameters.get("order_id"), "order_id")
            let zone = c.rollups.zone
            return Self.json(try await offloop { try pool.with { try ReadModels.order(c.tenant, id, zone: zone, $0) } })
        }
        router.getAndHead("/v1/orders") { [self] request, _ in
            let c = try await caller(request)
            let status = request.uri.queryParameters.get("status")
            if let s = status, !ReadModels.statuses.contains(s) {
                throw APIError.bad("status must be one of \(ReadModels.statuses.joined(separator: ", "))")
            }
            let page = try intParam(request, "page", default: 1, range: 1...100_000)
            let limit = try intParam(request, "limit", default: 20, range: 1...100)
            let zone = c.rollups.zone
            return Self.json(try await offloop { try pool.with {
                try ReadModels.orders(c.tenant, status: status, page: page, limit: limit, zone: zone, $0)
            } })
        }
        router.getAndHead("/v1/deliveries/:delivery_id") { [self] request, context in
            let c = try await caller(request)
            let id = try Self.checkID(context.parameters.get("delivery_id"), "delivery_id")
            let zone = c.rollups.zone
            return Self.json(try await offloop { try pool.with { try ReadModels.delivery(c.tenant, id, zone: zone, $0) } })
        }
        router.getAndHead("/v1/usage") { [self] request, _ in
            let c = try await caller(request)
            let tier = c.rollups.tier
            return Self.json(try await offloop { try pool.with { try ReadModels.usage(c.tenant, tier: tier, $0) } })
        }
        router.getAndHead("/v1/live") { [self] request, _ in
            let c = try await caller(request)
            let now = settings.now()
            return Self.json(try await offloop { try pool.with { try ReadModels.live(c.rollups, now: now, $0) } })
        }
        return router
    }

    /// The HTTP server as a service of a ServiceGroup (swift-service-lifecycle): runs until the
    /// group shuts down gracefully. `onListening` gets the bound port (useful with port 0); a port
    /// it cannot listen on fails as a ``ListenFailure`` naming `setting`.
    public func service(setting: String = "--port", onListening: @escaping @Sendable (Int) -> Void) -> any Service {
        store.startListening { [logger] m in logger.warning("\(m)") }
        return Listener(Application(router: router(),
                                    server: HTTPHardening.server,
                                    configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "wakala"),
                                    onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
                                    logger: logger),
                        host: settings.host, port: settings.port, setting: setting)
    }

    /// Serves until SIGINT or SIGTERM (then finishes the requests in flight and returns).
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [service(onListening: onListening)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        defer { store.stop() }
        try await group.run()
    }
}


extension RouterMethods {
    /// A GET route that HEAD answers too: the same status and headers, no body (``APIMiddleware``
    /// drops it and keeps the length), as RFC 9110 asks of every GET resource.
    @discardableResult public func getAndHead(
        _ path: RouterPath = "", use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator
    ) -> Self {
        on(path, method: .get, use: handler)
        return on(path, method: .head, use: handler)
    }
}

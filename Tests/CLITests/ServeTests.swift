import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Sinks
import TestSupport
import Testing
import Postgres

/// One generated 30-day, 50-tenant stream (crossing a month end) replayed with every sink into a
/// database of its own, and `wakala serve` over it — shared by the serving tests.
final class ServeFixture: @unchecked Sendable {
    static let secret = "serve-tests-secret-0123456789abcdef"
    let events: String
    let url: String
    let port: Int
    let server: Process
    let keyDir: String

    nonisolated(unsafe) private static var shared: ServeFixture?
    private static let lock = NSLock()

    static func get() throws -> ServeFixture {
        lock.lock()
        defer { lock.unlock() }
        if let s = shared { return s }
        let s = try ServeFixture()
        shared = s
        atexit { ServeFixture.shared?.stop() }
        return s
    }

    private init() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-serve-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        events = dir + "/events.ndjson"
        let w = try wakalaBinary()
        let g = try runProcess(w, ["generate", "--seed", "12", "--tenants", "50", "--days", "30", "--orders-per-day", "4",
                                   "--start", "2026-02-15", "--disorder", "20s", "--duplicates", "0.01", "--out", events], timeout: 300)
        guard g.status == 0 else { throw Failure("generate: \(g.stderr)") }
        url = try TestDatabase.fresh("serve")
        let r = try runProcess(w, ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", events, "--sinks",
                                   "--postgres", url, "--data", dir + "/data"], timeout: 900)
        guard r.status == 0 else { throw Failure("replay: \(r.stderr)") }
        // An RSA key pair for RS256 tokens.
        keyDir = dir
        for args in [["genrsa", "-out", dir + "/rsa.pem", "2048"], ["rsa", "-in", dir + "/rsa.pem", "-pubout", "-out", dir + "/rsa.pub"]] {
            let k = try runProcess(URL(fileURLWithPath: "/usr/bin/openssl"), args)
            guard k.status == 0 else { throw Failure("openssl: \(k.stderr)") }
        }
        (server, port) = try Self.serve(url: url, extra: ["--jwt-public-key", dir + "/rsa.pub"])
    }

    /// Starts `wakala serve --port 0` and waits for its `listening:` line.
    static func serve(url: String, extra: [String] = []) throws -> (Process, Int) {
        let p = Process()
        p.executableURL = try wakalaBinary()
        p.arguments = ["serve", "--port", "0", "--postgres", url] + extra
        p.environment = ProcessInfo.processInfo.environment.merging(["WAKALA_JWT_SECRET": secret]) { $1 }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-serve-out-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = FileHandle.standardError
        try p.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening: ") }),
               let port = Int(line.split(separator: ":").last ?? "") {
                // The server keeps its (now nameless) output file; nothing is left in /tmp.
                try? FileManager.default.removeItem(atPath: out)
                return (p, port)
            }
            guard p.isRunning else { try? FileManager.default.removeItem(atPath: out); throw Failure("serve exited: \(p.terminationStatus)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.terminate()
        try? FileManager.default.removeItem(atPath: out)
        throw Failure("serve did not print its port within 30 s")
    }

    func stop() {
        if server.isRunning { kill(server.processIdentifier, SIGTERM) }
        server.waitUntilExit()
        try? FileManager.default.removeItem(atPath: keyDir) // the generated stream, its Parquet files, the keys
    }

    func token(_ tenant: String?, role: String? = nil, alg: String = "HS256", expIn: Int = 3600, extra: [String] = []) throws -> String {
        var args = ["python3", "Tests/Tools/jwt_token.py", "--alg", alg, "--exp-in", String(expIn)] + extra
        if let tenant { args += ["--tenant", tenant] }
        if let role { args += ["--role", role] }
        if alg.hasPrefix("RS") { args += ["--key", keyDir + "/rsa.pem"] } else if alg != "none" { args += ["--secret", Self.secret] }
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), args)
        guard r.status == 0 else { throw Failure("jwt_token.py: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func get(_ path: String, token: String? = nil) throws -> HTTPReply { try HTTPReply.get("http://127.0.0.1:\(port)" + path, token: token) }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A GET and its answer.
struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: Data
    var json: Any? { try? JSONSerialization.jsonObject(with: body) }
    var errorCode: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["code"] as? String }

    static func get(_ url: String, token: String? = nil) throws -> HTTPReply {
        try send(url, method: "GET", body: Data(), headers: token.map { ["Authorization": "Bearer " + $0] } ?? [:])
    }
}

/// Equal as JSON: same keys and order-insensitive objects, integers exactly, other numbers to
/// 1e-9 relative (ratios computed in two languages). Returns the paths that differ.
func jsonDifferences(_ a: Any?, _ b: Any?, _ path: String = "$") -> [String] {
    switch (a, b) {
    case (let x as [String: Any], let y as [String: Any]):
        var out: [String] = []
        for k in Set(x.keys).union(y.keys).sorted() {
            guard x.keys.contains(k), y.keys.contains(k) else { out.append("\(path).\(k): present on one side only"); continue }
            out += jsonDifferences(x[k], y[k], "\(path).\(k)")
        }
        return out
    case (let x as [Any], let y as [Any]):
        guard x.count == y.count else { return ["\(path): \(x.count) items vs \(y.count)"] }
        return zip(x, y).enumerated().flatMap { jsonDifferences($1.0, $1.1, "\(path)[\($0)]") }
    case (let x as NSNumber, let y as NSNumber):
        let dx = x.doubleValue, dy = y.doubleValue
        return abs(dx - dy) <= 1e-9 * max(1, abs(dx)) ? [] : ["\(path): \(x) vs \(y)"]
    case (is NSNull, is NSNull), (nil, nil): return []
    case (is NSNull, nil), (nil, is NSNull): return []
    case (let x as String, let y as String): return x == y ? [] : ["\(path): \(x) vs \(y)"]
    default: return ["\(path): \(String(describing: a)) vs \(String(describing: b))"]
    }
}

@Suite(.serialized) struct ServeTests {
    /// The dashboard (`wakala query` and `GET /v1/dashboard`) equals DuckDB SQL over the raw
    /// NDJSON: several tenants, day and hour granularity, a range crossing a month end, the whole
    /// month, a range with no orders.
    @Test func dashboardEqualsDuckDBOverTheRawEvents() throws {
        let f = try ServeFixture.get()
        let tenants = ["t-0001", "t-0007", "t-0050"]
        let ranges = [("2026-02-15", "2026-02-22", "day"), ("2026-02-25", "2026-03-05", "day"), ("2026-02-15", "2026-03-17", "day"),
                      ("2026-06-01", "2026-06-08", "day"), ("2026-03-01T00", "2026-03-02T00", "hour"), ("2026-02-28T18", "2026-03-01T06", "hour"),
                      // Whole months inside (their precomputed sets), and hours around whole days.
                      ("2026-02-01", "2026-04-01", "day"), ("2026-02-27T20", "2026-03-02T05", "hour")]
        let queries = tenants.flatMap { t in ranges.map { "\(t),\($0.0),\($0.1),\($0.2)" } }
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/dashboard_crosscheck.py", f.events] + queries, timeout: 600)
        #expect(r.status == 0, "\(r.stderr)")
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(cases.count == queries.count)
        var ordersSeen = 0, emptySeen = 0
        for c in cases {
            let tenant = c["tenant"] as! String, from = c["from"] as! String, to = c["to"] as! String, g = c["granularity"] as! String
            let expected = c["expected"]
            let q = try runProcess(try wakalaBinary(), ["query", "--postgres", f.url, "--tenant", tenant, "--from", from, "--to", to, "--granularity", g])
            #expect(q.status == 0, "\(q.stderr)")
            let cli = try? JSONSerialization.jsonObject(with: Data(q.stdout.utf8))
            let d = jsonDifferences(expected, cli)
            #expect(d.isEmpty, "wakala query \(tenant) \(from)..\(to) \(g): \(d.prefix(8))")
            let enc = { (s: String) in s.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
            let http = try f.get("/v1/dashboard?from=\(enc(from))&to=\(enc(to))&granularity=\(g)", token: try f.token(tenant))
            #expect(http.status == 200)
            let dh = jsonDifferences(expected, http.json)
            #expect(dh.isEmpty, "GET /v1/dashboard \(tenant) \(from)..\(to) \(g): \(dh.prefix(8))")
            let orders = ((expected as? [String: Any])?["sales"] as? [String: Any])?["orders"] as? Int ?? 0
            if orders > 0 { ordersSeen += 1 } else { emptySeen += 1 }
        }
        #expect(ordersSeen >= 18 && emptySeen >= 3, "the cases cover busy and empty ranges (\(ordersSeen) busy, \(emptySeen) empty)")
    }

    /// Tokens, tenants, parameters and rate limits: each refusal with its status and JSON error.
    @Test func securityRefusals() throws {
        let f = try ServeFixture.get()
        let db = try PGConnection(url: f.url)
        let range = "from=2026-03-01T00:00:00%2B02:00&to=2026-03-02T00:00:00%2B02:00&granularity=hour"
        let good = try f.token("t-0002")
        #expect(try f.get("/v1/dashboard?" + range, token: good).status == 200)
        #expect(try f.get("/v1/dashboard?" + range, token: try f.token("t-0002", alg: "RS256")).status == 200, "RS256 with the public key")

        // 401: no token, bad signature, expired, alg none, no tenant_id, unknown algorithm, garbage.
        let forged = good.dropLast(4) + (good.hasSuffix("AAAA") ? "BBBB" : "AAAA")
        let refused: [(String, String?)] = [
            ("no token", nil), ("bad signature", String(forged)), ("expired", try f.token("t-0002", expIn: -60)),
            ("alg none", try f.token("t-0002", alg: "none")), ("no tenant_id", try f.token(nil)),
            ("HS512", try f.token("t-0002", alg: "HS512")), ("not a JWT", "not.a.jwt"), ("no exp", try f.token("t-0002", extra: ["--no-exp"])),
        ]
        for (what, token) in refused {
            let r = try f.get("/v1/dashboard?" + range, token: token)
            #expect(r.status == 401 && r.errorCode == "unauthorized", "\(what): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
            #expect(r.headers["www-authenticate"] == "Bearer", "\(what)")
        }

        // Another tenant's data: 403 naming it, 404 for its ids.
        let other = "t-0003"
        let order = try #require(try db.query("SELECT order_id FROM wakala.orders WHERE tenant_id = $1 LIMIT 1", [other]).rows.first?[0] ?? nil)
        let delivery = try #require(try db.query("SELECT delivery_id FROM wakala.deliveries WHERE tenant_id = $1 LIMIT 1", [other]).rows.first?[0] ?? nil)
        #expect(try f.get("/v1/orders/\(order)", token: try f.token(other)).status == 200)
        #expect(try f.get("/v1/deliveries/\(delivery)", token: try f.token(other)).status == 200)
        #expect(try f.get("/v1/orders/\(order)", token: good).status == 404)
        #expect(try f.get("/v1/deliveries/\(delivery)", token: good).status == 404)
        for path in ["/v1/usage?tenant_id=\(other)", "/v1/dashboard?\(range)&tenant_id=\(other)", "/v1/orders/\(order)?tenant_id=\(other)",
                     "/v1/deliveries/\(delivery)?tenant_id=\(other)", "/v1/orders?tenant_id=\(other)"] {
            let r = try f.get(path, token: good)
            #expect(r.status == 403 && r.errorCode == "forbidden", "\(path): \(r.status)")
        }
        let admin = try f.token("t-0002", role: "platform_admin")
        #expect(try f.get("/v1/orders/\(order)?tenant_id=\(other)", token: admin).status == 200, "platform_admin may read any tenant")
        let usage = try f.get("/v1/usage?tenant_id=\(other)", token: admin)
        #expect((usage.json as? [String: Any])?["tenant_id"] as? String == other)

        // 400: unaligned, too long, reversed, bad granularity, SQL- and path-like ids, bad paging.
        let bad = [
            "/v1/dashboard?from=2026-03-01T00:30:00%2B02:00&to=2026-03-02T00:00:00%2B02:00&granularity=hour",
            "/v1/dashboard?from=2026-03-01T05:00:00%2B02:00&to=2026-03-02T00:00:00%2B02:00&granularity=day",
            "/v1/dashboard?from=2025-01-01T00:00:00%2B02:00&to=2026-03-01T00:00:00%2B02:00&granularity=day",
            "/v1/dashboard?from=2026-03-02T00:00:00%2B02:00&to=2026-03-01T00:00:00%2B02:00",
            "/v1/dashboard?from=2026-03-01T00:00:00%2B02:00&to=2026-03-02T00:00:00%2B02:00&granularity=week",
            "/v1/dashboard?from=yesterday&to=today",
            "/v1/dashboard",
            "/v1/orders/1%27%20OR%20%271%27%3D%271", "/v1/orders/..%2F..%2Fetc%2Fpasswd", "/v1/deliveries/x%3Bdrop%20table",
            "/v1/orders?status=shipped", "/v1/orders?page=0", "/v1/orders?limit=1000", "/v1/orders?page=abc",
            "/v1/usage?tenant_id=%27%3B--",
        ]
        for path in bad {
            let r = try f.get(path, token: good)
            #expect(r.status == 400 && r.errorCode == "bad_request", "\(path): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }

        // 429 over the tier's rate, with Retry-After; another tenant is not affected.
        let basic = try #require(try db.query("""
            SELECT tenant_id FROM wakala.tenants WHERE tier = 'basic' AND tenant_id NOT IN ('t-0001', 't-0002', 't-0003', 't-0007', 't-0050')
            ORDER BY tenant_id DESC LIMIT 1
            """).rows.first?[0] ?? nil)
        let t = try f.token(basic)
        var statuses: [Int] = []
        var limited: HTTPReply?
        for _ in 0..<105 {
            let r = try f.get("/v1/usage", token: t)
            statuses.append(r.status)
            if r.status == 429 { limited = r; break }
        }
        let r = try #require(limited, "no 429 within 105 requests of a basic tenant: \(Set(statuses))")
        #expect(statuses.count >= 100 || statuses.count <= 2, "the limit is 100 per minute (a window may end mid-test): \(statuses.count)")
        #expect(r.errorCode == "rate_limited")
        let retry = try #require(Int(r.headers["retry-after"] ?? ""))
        #expect((1...60).contains(retry))
        #expect(try f.get("/v1/usage", token: good).status == 200)
    }

    /// Orders, a page of them, a delivery, usage: as the read models hold them, for the token's tenant.
    @Test func lookupsAnswerFromTheReadModels() throws {
        let f = try ServeFixture.get()
        let db = try PGConnection(url: f.url)
        let tenant = "t-0004", token = try f.token(tenant)
        let row = try #require(try db.query("""
            SELECT order_id, status, total_cents, (SELECT count(*) FROM wakala.order_status_history h WHERE h.tenant_id = o.tenant_id AND h.order_id = o.order_id)
            FROM wakala.orders o WHERE tenant_id = $1 AND status = 'completed' LIMIT 1
            """, [tenant]).rows.first)
        let o = try #require(try f.get("/v1/orders/\(row[0]!)", token: token).json as? [String: Any])
        #expect(o["status"] as? String == row[1])
        #expect(o["total_cents"] as? Int == Int(row[2]!))
        #expect((o["history"] as? [Any])?.count == Int(row[3]!))
        #expect(((o["history"] as? [[String: Any]])?.last?["to"]) as? String == "completed")

        let count = try db.query("SELECT count(*) FROM wakala.orders WHERE tenant_id = $1 AND status = 'completed'", [tenant]).rows[0][0].flatMap { Int($0) }
        let page = try #require(try f.get("/v1/orders?status=completed&page=2&limit=5", token: token).json as? [String: Any])
        #expect(page["total"] as? Int == count)
        let ids = (page["orders"] as? [[String: Any]] ?? []).compactMap { $0["order_id"] as? String }
        let want = try db.query("""
            SELECT order_id FROM wakala.orders WHERE tenant_id = $1 AND status = 'completed' ORDER BY created_at DESC, order_id LIMIT 5 OFFSET 5
            """, [tenant]).rows.map { $0[0]! }
        #expect(ids == want)

        let d = try #require(try db.query("SELECT delivery_id, status, driver_id FROM wakala.deliveries WHERE tenant_id = $1 LIMIT 1", [tenant]).rows.first)
        let dj = try #require(try f.get("/v1/deliveries/\(d[0]!)", token: token).json as? [String: Any])
        #expect(dj["status"] as? String == d[1] && dj["driver_id"] as? String == d[2])

        let u = try #require(try f.get("/v1/usage", token: token).json as? [String: Any])
        let resources = (u["resources"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? String }
        let want2 = try db.query("SELECT resource FROM wakala.tenant_usage WHERE tenant_id = $1 ORDER BY resource", [tenant]).rows.map { $0[0]! }
        #expect(resources == want2 && !resources.isEmpty)

        // Health, readiness, metrics (per route and status), the OpenAPI document, the page.
        #expect(try f.get("/healthz").status == 200)
        #expect(try f.get("/readyz").status == 200)
        let metrics = String(decoding: try f.get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains("wakala_http_requests_total{route=\"/v1/orders/{order_id}\",method=\"GET\",status=\"200\"}"))
        #expect(metrics.contains("wakala_http_request_duration_seconds_bucket{"))
        let doc = try #require(try f.get("/openapi.json").json as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        #expect(((doc["paths"] as? [String: Any])?.keys.sorted() ?? []).contains("/v1/dashboard"))
        let page2 = try f.get("/")
        #expect(page2.status == 200 && String(decoding: page2.body, as: UTF8.self).contains("<title>Wakala Stream"))
        #expect(page2.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(try f.get("/v1/orders/\(row[0]!)", token: token).headers["x-request-id"]?.isEmpty == false)
    }

    /// A checkpoint committed after the server cached a tenant's rollups shows up without a
    /// restart (LISTEN/NOTIFY from the checkpoint's transaction).
    @Test func seesNewCheckpointsWithoutRestart() throws {
        let url = try TestDatabase.fresh("servefresh")
        let w = try wakalaBinary()
        // The schema first, so the server starts ready.
        try Migrations.run(try PGConnection(url: url))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-fresh-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let g = try runProcess(w, ["generate", "--seed", "5", "--tenants", "2", "--days", "2", "--out", dir + "/e.ndjson"])
        #expect(g.status == 0)
        let (server, port) = try ServeFixture.serve(url: url)
        defer { if server.isRunning { kill(server.processIdentifier, SIGTERM) }; server.waitUntilExit() }
        let f = try ServeFixture.get()
        let token = try f.token("t-0001")
        let path = "http://127.0.0.1:\(port)/v1/dashboard?from=2026-03-01T00:00:00%2B02:00&to=2026-03-03T00:00:00%2B02:00&granularity=day"
        let before = try HTTPReply.get(path, token: token)
        #expect(((before.json as? [String: Any])?["sales"] as? [String: Any])?["orders"] as? Int == 0, "cached: nothing yet")
        // Another process commits the stream: the server's next answers carry it.
        let r = try runProcess(w, ["replay", "--pipeline", "Pipelines/analytics.yaml", "--input", dir + "/e.ndjson", "--sinks",
                                   "--postgres", url, "--data", dir + "/d1"], timeout: 300)
        #expect(r.status == 0, "\(r.stderr)")
        let committed = Date()
        let q = try runProcess(w, ["query", "--postgres", url, "--tenant", "t-0001", "--from", "2026-03-01T00:00:00+02:00", "--to", "2026-03-03T00:00:00+02:00"])
        let want = try JSONSerialization.jsonObject(with: Data(q.stdout.utf8))
        #expect(((want as? [String: Any])?["sales"] as? [String: Any])?["orders"] as? Int ?? 0 > 0)
        var diffs: [String] = ["not asked"]
        while Date().timeIntervalSince(committed) < 10 {
            diffs = jsonDifferences(want, try HTTPReply.get(path, token: token).json)
            if diffs.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(diffs.isEmpty, "the server still answers from before the checkpoint: \(diffs.prefix(5))")
        // SIGINT: in-flight requests finish, exit 0.
        kill(server.processIdentifier, SIGINT)
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
    }

    /// schemathesis (PyPI) against `/openapi.json`: no server error, no status, header, content
    /// type or body outside the document, undeclared methods refused, schema-invalid requests
    /// rejected. (`positive_data_acceptance` is left out: a range must also be aligned to the
    /// tenant's buckets, which a schema cannot say, so some schema-valid ranges are rightly 400.)
    @Test func schemathesisFindsNothingOutsideTheDocument() throws {
        let f = try ServeFixture.get()
        let (server, port) = try ServeFixture.serve(url: f.url, extra: ["--rate-limits", "off"])
        defer { if server.isRunning { kill(server.processIdentifier, SIGTERM) }; server.waitUntilExit() }
        let token = try f.token("t-0010", role: "platform_admin")
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), [
            "schemathesis", "run", "http://127.0.0.1:\(port)/openapi.json", "-H", "Authorization: Bearer \(token)",
            "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", "40", "--seed", "20261201",
        ], timeout: 600, environment: ["NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"])
        #expect(r.status == 0, "schemathesis found problems:\n\(r.stdout.suffix(4000))\n\(r.stderr.suffix(1000))")
        #expect(r.stdout.contains("passed"), "\(r.stdout.suffix(500))")
    }

    /// The page in headless Chromium, as a merchant opens it: the figures it shows equal the API's.
    @Test func browserShowsTheAPIFigures() throws {
        let f = try ServeFixture.get()
        let chromium = "/usr/bin/chromium"
        try #require(FileManager.default.isExecutableFile(atPath: chromium), "chromium is not installed (scripts/setup)")
        let tenant = "t-0005", token = try f.token(tenant)
        let tz = try PGConnection(url: f.url).query("SELECT timezone FROM wakala.tenants WHERE tenant_id = $1", [tenant]).rows.first?[0] ?? nil
        let off = TimeZone(identifier: tz ?? "Africa/Johannesburg")!.secondsFromGMT() / 3600
        let o = String(format: "%%2B%02d:00", off)
        let from = "2026-02-20T00:00:00\(o)", to = "2026-03-06T00:00:00\(o)"
        let api = try #require(try f.get("/v1/dashboard?from=\(from)&to=\(to)&granularity=day", token: token).json as? [String: Any])
        let url = "http://127.0.0.1:\(f.port)/#token=\(token)&from=\(from)&to=\(to)&granularity=day"
        let r = try runProcess(URL(fileURLWithPath: chromium), ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                                                                "--dump-dom", url], timeout: 120)
        #expect(r.status == 0, "\(r.stderr.suffix(500))")
        // The rendered document (the script after it holds the same markup as templates).
        let dom = r.stdout.components(separatedBy: "<script>")[0]
        #expect(r.stdout.contains("data-loaded=\"1\""), "the page finished loading its figures")
        func value(_ id: String) -> String? {
            guard let range = dom.range(of: "id=\"\(id)\" data-value=\"") else { return nil }
            return String(dom[range.upperBound...].prefix { $0 != "\"" })
        }
        let sales = api["sales"] as! [String: Any]
        for k in ["orders", "gross_revenue_cents", "net_revenue_cents", "avg_order_value_cents", "unique_customers", "new_customers",
                  "items_sold", "cancelled_orders", "completion_rate", "avg_fulfillment_seconds"] {
            let shown = value("sales-\(k)")
            #expect(shown.flatMap(Double.init) != nil && abs(Double(shown!)! - (sales[k] as! NSNumber).doubleValue) < 1e-9, "\(k): page \(shown ?? "-") vs API \(sales[k]!)")
        }
        let deliveries = api["deliveries"] as! [String: Any]
        #expect(value("deliveries-completed") == "\(deliveries["completed"]!)")
        // One chart bar per bucket, with the API's orders and revenue.
        let series = api["time_series"] as! [[String: Any]]
        let bars = dom.components(separatedBy: "class=\"bucket\"").dropFirst().map { chunk -> (String, String) in
            func attr(_ n: String) -> String { String(chunk.components(separatedBy: "\(n)=\"").dropFirst().first?.prefix { $0 != "\"" } ?? "") }
            return (attr("data-orders"), attr("data-revenue"))
        }
        #expect(bars.count == series.count && series.count == 14)
        #expect(bars.map { $0.0 } == series.map { "\($0["orders"]!)" })
        #expect(bars.map { $0.1 } == series.map { "\($0["gross_revenue_cents"]!)" })
        let products = api["top_products"] as! [[String: Any]]
        #expect(value("product-0") == products.first.map { "\($0["revenue_cents"]!)" })
        for (type, n) in api["messages"] as! [String: Any] { #expect(value("messages-\(type)") == "\(n)", "\(type)") }
    }
}

import Foundation
import Sinks
import TestSupport
import Testing
import Postgres

/// The serving edges of issue 27, point 10: claims checked like parameters, `nbf`/`iat` with
/// leeway, issuer and audience, slow clients cut, 414/431 with our JSON, HEAD, security headers,
/// an unauthenticated `/readyz` that says nothing of where, admin reads on the admin's own limit.
@Suite(.serialized) struct ServingEdgesTests {
    static let range = "from=2026-03-01T00:00:00%2B02:00&to=2026-03-02T00:00:00%2B02:00&granularity=hour"

    @Test func tokensAreCheckedLikeParameters() throws {
        let f = try ServeFixture.get()
        let path = "/v1/dashboard?" + Self.range
        #expect(try f.get(path, token: try f.token("t-0004")).status == 200)
        // A tenant claim that a `?tenant_id=` would not pass: 401, never t-0004's data.
        for bad in [#""t-0004\u0000evil""#, #""t-0004/../t-0005""#, #""t-0004 OR 1=1""#, #""""#, "\"" + String(repeating: "t", count: 129) + "\""] {
            let r = try f.get(path, token: try f.token(nil, extra: ["--claim", "tenant_id=" + bad]))
            #expect(r.status == 401 && r.errorCode == "unauthorized", "tenant_id \(bad.prefix(30)): \(r.status)")
        }
        // nbf and iat, with 60 s of leeway.
        let cases: [(String, Int)] = [("nbf=now+600", 401), ("nbf=now+30", 200), ("nbf=now-30", 200), ("iat=now+600", 401), ("iat=now+30", 200), ("iat=now-3600", 200)]
        for (claim, status) in cases {
            let r = try f.get(path, token: try f.token("t-0004", extra: ["--claim", claim]))
            #expect(r.status == status, "\(claim): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }
        // --jwt-issuer and --jwt-audience.
        let (server, port) = try ServeFixture.serve(url: f.url, extra: ["--jwt-issuer", "https://auth.wakala.test", "--jwt-audience", "dashboard"])
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        func status(_ extra: [String]) throws -> Int {
            try HTTPReply.get("http://127.0.0.1:\(port)" + path, token: try f.token("t-0004", extra: extra)).status
        }
        #expect(try status([]) == 401, "no iss, no aud")
        #expect(try status(["--claim", #"iss="https://auth.wakala.test""#]) == 401, "no aud")
        #expect(try status(["--claim", #"iss="https://evil.test""#, "--claim", #"aud="dashboard""#]) == 401)
        #expect(try status(["--claim", #"iss="https://auth.wakala.test""#, "--claim", #"aud=["other"]"#]) == 401)
        #expect(try status(["--claim", #"iss="https://auth.wakala.test""#, "--claim", #"aud="dashboard""#]) == 200)
        #expect(try status(["--claim", #"iss="https://auth.wakala.test""#, "--claim", #"aud=["other","dashboard"]"#]) == 200)
    }

    @Test func headersLimitsAndSlowClients() throws {
        let f = try ServeFixture.get()
        // Security headers: the page's policy, nosniff and no framing everywhere, tenant JSON uncached.
        let page = try f.get("/")
        let csp = page.headers["content-security-policy"] ?? ""
        #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'sha256-") && csp.contains("frame-ancestors 'none'"), "\(csp)")
        let dashboard = try f.get("/v1/dashboard?" + Self.range, token: try f.token("t-0004"))
        for r in [page, dashboard, try f.get("/healthz")] {
            #expect(r.headers["x-content-type-options"] == "nosniff" && r.headers["x-frame-options"] == "DENY")
        }
        #expect(dashboard.headers["cache-control"] == "no-store")
        // HEAD on GET routes: the GET's status and length, no body; still 405 for other methods.
        let head = try HTTPReply.send("http://127.0.0.1:\(f.port)/v1/dashboard?" + Self.range, method: "HEAD", body: Data(),
                                      headers: ["Authorization": "Bearer " + (try f.token("t-0004"))])
        #expect(head.status == 200 && head.body.isEmpty && head.headers["content-length"] == String(dashboard.body.count), "\(head.headers)")
        let post = try HTTPReply.send("http://127.0.0.1:\(f.port)/healthz", method: "POST", body: Data(), headers: [:])
        #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD")

        // Raw sockets: 414 and 431 with our JSON, HEAD without a body, slow clients cut.
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "Tests/Tools/http_edges.py", String(f.port)], timeout: 180)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
        let long = doc["long_url"] as? [String: Any] ?? [:], big = doc["big_headers"] as? [String: Any] ?? [:]
        #expect(long["status"] as? Int == 414 && (long["body"] as? String ?? "").contains("\"uri_too_long\""), "\(long)")
        #expect(big["status"] as? Int == 431 && (big["body"] as? String ?? "").contains("\"headers_too_large\""), "\(big)")
        #expect(long["content_type"] as? String == "application/json" && big["content_type"] as? String == "application/json")
        let h = doc["head"] as? [String: Any] ?? [:]
        #expect(h["status"] as? Int == 200 && h["after_headers"] as? Int == 0 && h["content_length"] as? String == "15", "\(h)")
        let slowHeaders = doc["slow_headers"] as? Double ?? 99, slowBody = doc["slow_body"] as? Double ?? 99
        #expect(slowHeaders >= 9 && slowHeaders <= 15, "an unfinished header block lived \(slowHeaders) s (10 s allowed)")
        #expect(slowBody >= 29 && slowBody <= 40, "a body at 1 byte/s lived \(slowBody) s (30 s allowed)")
        // The server is still serving.
        #expect(try f.get("/healthz").status == 200)
    }

    @Test func readinessSaysNothingOfWhereAndAdminsHaveTheirOwnLimit() throws {
        let f = try ServeFixture.get()
        #expect((try f.get("/readyz").json as? [String: Any])?["ready"] as? Bool == true)
        let (server, port) = try ServeFixture.serve(url: "postgresql://wakala@127.0.0.1:1/nowhere?connect_timeout=2")
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let down = try HTTPReply.get("http://127.0.0.1:\(port)/readyz")
        let text = String(decoding: down.body, as: UTF8.self)
        #expect(down.status == 503 && text == #"{"ready":false}"#, "\(text)")
        #expect(!text.contains("127.0.0.1") && !text.contains("5432") && !text.contains(":1"))

        // A platform admin reading a basic tenant 150 times does not use up its minute.
        let db = try PGConnection(url: f.url)
        let basic = try #require(try db.query("""
            SELECT tenant_id FROM wakala.tenants WHERE tier = 'basic' AND tenant_id NOT IN ('t-0001', 't-0002', 't-0003', 't-0004', 't-0007', 't-0050')
            ORDER BY tenant_id LIMIT 1
            """).rows.first?[0] ?? nil)
        let admin = try f.token("t-0001", role: "platform_admin")
        for i in 0..<150 {
            let r = try f.get("/v1/usage?tenant_id=\(basic)", token: admin)
            #expect(r.status == 200, "admin read \(i): \(r.status)")
            if r.status != 200 { break }
        }
        #expect(try f.get("/v1/usage", token: try f.token(basic)).status == 200, "the tenant's own reads are untouched")
    }
}

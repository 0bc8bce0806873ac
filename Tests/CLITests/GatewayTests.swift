import Domain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Ingest
import TestSupport
import Testing

/// `wakala gateway` against `wakala broker`, read back with kcat.
final class GatewayFixture: @unchecked Sendable {
    static let appSecret = "whatsapp-app-secret-for-tests"
    static let verifyToken = "verify-me-please"
    static let paystackSecret = "sk_test_paystack_secret"
    let broker: Daemon
    let bootstrap: String
    let gateway: Process
    let port: Int
    let dir: String

    init() throws {
        broker = try Daemon(try wakalaBinary(), ["broker", "--partitions", "2"])
        bootstrap = try broker.waitForLine(prefix: "bootstrap: ")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-gw-\(UUID().uuidString)").path
        self.dir = dir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "# phone_number_id → tenant\n\"106540352242922\": t-0001\n\"209876543210\": t-0002\n".write(toFile: dir + "/tenants.yaml", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = try wakalaBinary()
        p.arguments = ["gateway", "--port", "0", "--brokers", bootstrap, "--tenants", dir + "/tenants.yaml", "--ack-timeout", "2s"]
        p.environment = ProcessInfo.processInfo.environment.merging([
            "WAKALA_WHATSAPP_APP_SECRET": Self.appSecret, "WAKALA_WHATSAPP_VERIFY_TOKEN": Self.verifyToken,
            "WAKALA_PAYSTACK_SECRET": Self.paystackSecret,
        ]) { $1 }
        let out = dir + "/out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = FileHandle.standardError
        try p.run()
        gateway = p
        var found: Int?
        let deadline = Date().addingTimeInterval(30)
        while found == nil && Date() < deadline && p.isRunning {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            found = text.split(separator: "\n").first { $0.hasPrefix("listening: ") }.flatMap { Int($0.split(separator: ":").last ?? "") }
            if found == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let found else { throw Failure("the gateway did not start") }
        port = found
    }

    deinit {
        if gateway.isRunning { kill(gateway.processIdentifier, SIGTERM) }
        gateway.waitUntilExit()
        broker.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func post(_ path: String, _ body: [UInt8], headers: [String: String]) throws -> HTTPReply {
        try HTTPReply.send("http://127.0.0.1:\(port)" + path, method: "POST", body: Data(body), headers: headers)
    }

    func whatsapp(_ body: [UInt8], signature: String? = nil) throws -> HTTPReply {
        try post("/webhooks/whatsapp", body, headers: ["X-Hub-Signature-256": signature ?? Self.sign256(body), "Content-Type": "application/json"])
    }

    func paystack(_ body: [UInt8], signature: String? = nil) throws -> HTTPReply {
        try post("/webhooks/paystack", body, headers: ["x-paystack-signature": signature ?? Self.sign512(body), "Content-Type": "application/json"])
    }

    /// HMACs computed by openssl (a signer we did not write).
    static func sign256(_ body: [UInt8]) -> String { "sha256=" + hmac("sha256", appSecret, body) }
    static func sign512(_ body: [UInt8]) -> String { hmac("sha512", paystackSecret, body) }
    static func hmac(_ digest: String, _ key: String, _ body: [UInt8]) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-body-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(body))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try! runProcess(URL(fileURLWithPath: "/usr/bin/openssl"), ["dgst", "-\(digest)", "-hmac", key, "-r", path])
        return String(r.stdout.prefix { $0 != " " })
    }

    /// Every record of a topic: key, value, headers (kcat).
    func read(_ topic: String) throws -> [(key: String, value: String, headers: String)] {
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/kcat"), ["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                                                                     "-f", "%k\u{1F}%h\u{1F}%s\u{1E}"], timeout: 60)
        return r.stdout.split(separator: "\u{1E}").compactMap { rec in
            let f = rec.split(separator: "\u{1F}", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3 else { return nil }
            return (f[0], f[2], f[1])
        }
    }
}

extension HTTPReply {
    static func send(_ url: String, method: String, body: Data, headers: [String: String]) throws -> HTTPReply {
        var req = URLRequest(url: URL(string: url)!)
        req.httpMethod = method
        req.httpBody = body
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        req.timeoutInterval = 30
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: HTTPReply?
        nonisolated(unsafe) var failure: Error?
        URLSession.shared.dataTask(with: req) { data, response, error in
            if let h = response as? HTTPURLResponse {
                var hs: [String: String] = [:]
                for (k, v) in h.allHeaderFields { hs[String(describing: k).lowercased()] = String(describing: v) }
                result = HTTPReply(status: h.statusCode, headers: hs, body: data ?? Data())
            } else {
                failure = error ?? Failure("no response from \(url)")
            }
            done.signal()
        }.resume()
        done.wait()
        if let failure { throw failure }
        return result!
    }
}

/// Cloud API and Paystack bodies as their senders write them.
enum Hooks {
    static func message(_ id: String, _ type: String, _ ts: Int, _ extra: String) -> String {
        #"{"from":"27821234567","id":"\#(id)","timestamp":"\#(ts)","type":"\#(type)",\#(extra)}"#
    }
    static func change(_ phoneID: String, messages: [String], statuses: [String] = []) -> String {
        var value = #""messaging_product":"whatsapp","metadata":{"display_phone_number":"27820000000","phone_number_id":"\#(phoneID)"}"#
        if !messages.isEmpty { value += #","contacts":[{"profile":{"name":"Thandi"},"wa_id":"27821234567"}],"messages":[\#(messages.joined(separator: ","))]"# }
        if !statuses.isEmpty { value += #","statuses":[\#(statuses.joined(separator: ","))]"# }
        return #"{"field":"messages","value":{\#(value)}}"#
    }
    static func webhook(_ entries: [[String]]) -> [UInt8] {
        let e = entries.enumerated().map { #"{"id":"WABA\#($0.offset)","changes":[\#($0.element.joined(separator: ","))]}"# }
        return Array(#"{"object":"whatsapp_business_account","entry":[\#(e.joined(separator: ","))]}"#.utf8)
    }
    static func charge(_ reference: String, tenant: String, order: String, amount: Int, id: Int) -> [UInt8] {
        Array(#"{"event":"charge.success","data":{"id":\#(id),"domain":"test","status":"success","reference":"\#(reference)","amount":\#(amount),"currency":"ZAR","paid_at":"2026-03-01T10:15:30.000Z","created_at":"2026-03-01T10:15:00.000Z","channel":"card","metadata":{"tenant_id":"\#(tenant)","order_id":"\#(order)"}}}"#.utf8)
    }
}

@Suite(.serialized) struct GatewayTests {
    static func json(_ s: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] ?? [:] }

    @Test func whatsappMessagesBecomeContractEvents() throws {
        let f = try GatewayFixture()
        let body = Hooks.webhook([
            [Hooks.change("106540352242922", messages: [
                Hooks.message("wamid.T1", "text", 1772355600, #""text":{"body":"2 kota please"}"#),
                Hooks.message("wamid.I1", "image", 1772355610, #""image":{"caption":"this one","mime_type":"image/jpeg","sha256":"abc","id":"media-1"}"#),
                Hooks.message("wamid.X1", "interactive", 1772355620, #""interactive":{"type":"button_reply","button_reply":{"id":"confirm","title":"Confirm"}}"#),
            ])],
            [Hooks.change("209876543210", messages: [
                Hooks.message("wamid.L1", "location", 1772355630, #""location":{"latitude":-26.2041,"longitude":28.0473,"name":"Vilakazi St"}"#),
            ], statuses: [#"{"id":"wamid.OUT1","status":"delivered","timestamp":"1772355640","recipient_id":"27821234567"}"#])],
        ])
        let r = try f.whatsapp(body)
        #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        #expect(Self.json(String(decoding: r.body, as: UTF8.self))["events"] as? Int == 4)
        let records = try f.read("whatsapp.inbound")
        #expect(records.count == 4)
        let expected: [(String, String, String, String)] = [
            ("wamid.T1", "t-0001", "text", "2026-03-01T09:00:00.000Z"), ("wamid.I1", "t-0001", "image", "2026-03-01T09:00:10.000Z"),
            ("wamid.X1", "t-0001", "interactive", "2026-03-01T09:00:20.000Z"), ("wamid.L1", "t-0002", "location", "2026-03-01T09:00:30.000Z"),
        ]
        var ids: [String: String] = [:]
        for (wamid, tenant, type, at) in expected {
            let rec = try #require(records.first { Self.json($0.value)["correlation_id"] as? String == wamid }, "\(wamid)")
            #expect(rec.key == tenant)
            let e = Self.json(rec.value), d = e["data"] as? [String: Any] ?? [:]
            #expect(e["event_type"] as? String == "whatsapp.message.received" && e["tenant_id"] as? String == tenant)
            #expect(d["message_id"] as? String == wamid && d["from"] as? String == "+27821234567" && d["type"] as? String == type)
            #expect(d["received_at"] as? String == at && e["timestamp"] as? String == at)
            #expect(d["content"] is [String: Any])
            ids[wamid] = e["event_id"] as? String
            // The pipeline's decoder accepts what the gateway writes.
            switch EventDecoder().decode(rec.value) {
            case .success(let ev):
                #expect(ev.tenantID == tenant)
                guard case .whatsappMessageReceived(let m) = ev.payload else { Issue.record("\(wamid): not a message"); continue }
                #expect(m.messageID == wamid && m.type.rawValue == type)
            case .failure(let rej):
                Issue.record("\(wamid) rejected by the decoder: \(rej)")
            }
        }
        let text = Self.json(records.first { $0.value.contains("wamid.T1") }?.value ?? "{}")
        #expect(((text["data"] as? [String: Any])?["content"] as? [String: Any])?["body"] as? String == "2 kota please")
        // Meta re-delivers: the same webhook again gives the same event ids (the pipeline dedupes).
        #expect(try f.whatsapp(body).status == 200)
        let again = try f.read("whatsapp.inbound")
        #expect(again.count == 8)
        for (wamid, id) in ids {
            #expect(again.filter { Self.json($0.value)["event_id"] as? String == id }.count == 2, "\(wamid)")
        }
    }

    @Test func refusalsAndDeadLetters() throws {
        let f = try GatewayFixture()
        let good = Hooks.webhook([[Hooks.change("106540352242922", messages: [Hooks.message("wamid.S1", "text", 1772355600, #""text":{"body":"hi"}"#)])]])
        // Bad or missing signature: 401, nothing produced.
        for sig in ["sha256=" + String(repeating: "0", count: 64), "", "sha1=abc", GatewayFixture.sign256(good + [0x20])] {
            let r = try f.whatsapp(good, signature: sig)
            #expect(r.status == 401, "signature \(sig.prefix(20))")
        }
        let noHeader = try f.post("/webhooks/whatsapp", good, headers: [:])
        #expect(noHeader.status == 401)
        #expect(try f.paystack(Hooks.charge("ref-x", tenant: "t-0001", order: "o-1", amount: 100, id: 1), signature: "deadbeef").status == 401)
        for topic in Topics.inputs + [Topics.deadLetters] { #expect(try f.read(topic).isEmpty, "\(topic) after refused webhooks") }
        // Signed but not the Cloud API's JSON: 400.
        for bad in ["not json", "[1,2]", #"{"object":"x"}"#, #"{"entry":[{"changes":[{"value":{"metadata":{"phone_number_id":"106540352242922"},"messages":[{"id":"w"}]}}]}]}"#] {
            let r = try f.whatsapp(Array(bad.utf8))
            #expect(r.status == 400, "\(bad): \(r.status)")
            #expect(r.errorCode == "bad_request")
        }
        #expect(try f.paystack(Array(#"{"nope":true}"#.utf8)).status == 400)
        // Over 1 MiB: 413.
        #expect(try f.whatsapp([UInt8](repeating: 0x20, count: (1 << 20) + 10)).status == 413)
        // The handshake.
        let ok = try HTTPReply.get("http://127.0.0.1:\(f.port)/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=\(GatewayFixture.verifyToken)&hub.challenge=1158201444")
        #expect(ok.status == 200 && String(decoding: ok.body, as: UTF8.self) == "1158201444" && ok.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(try HTTPReply.get("http://127.0.0.1:\(f.port)/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1").status == 403)
        #expect(try HTTPReply.get("http://127.0.0.1:\(f.port)/webhooks/whatsapp?hub.mode=unsubscribe&hub.verify_token=\(GatewayFixture.verifyToken)&hub.challenge=1").status == 403)
        // An unknown phone number and an unsupported type: dead letters with reasons, 200.
        let unknown = Hooks.webhook([[Hooks.change("555000111", messages: [Hooks.message("wamid.U1", "text", 1772355600, #""text":{"body":"hi"}"#)])],
                                     [Hooks.change("106540352242922", messages: [Hooks.message("wamid.A1", "audio", 1772355600, #""audio":{"id":"m"}"#)])]])
        let r = try f.whatsapp(unknown)
        #expect(r.status == 200)
        let dead = try f.read(Topics.deadLetters)
        #expect(dead.count == 2)
        #expect(dead.contains { $0.headers.contains("reason=unknown_phone_number") && $0.value == String(decoding: unknown, as: UTF8.self) })
        #expect(dead.contains { $0.headers.contains("reason=unsupported_message_type") })
        #expect(try f.read("whatsapp.inbound").isEmpty)
    }

    @Test func paystackPaymentsAndRefunds() throws {
        let f = try GatewayFixture()
        #expect(try f.paystack(Hooks.charge("ref-100", tenant: "t-0002", order: "o-77", amount: 24990, id: 4099260516)).status == 200)
        let refund = Array(#"{"event":"refund.processed","data":{"id":1234,"status":"processed","transaction_reference":"ref-100","amount":5000,"currency":"ZAR","refunded_at":"2026-03-02T08:00:00.000Z","metadata":{"tenant_id":"t-0002","order_id":"o-77"}}}"#.utf8)
        #expect(try f.paystack(refund).status == 200)
        let other = try f.paystack(Array(#"{"event":"transfer.success","data":{"id":1,"amount":100}}"#.utf8))
        #expect(other.status == 200 && Self.json(String(decoding: other.body, as: UTF8.self))["ignored"] as? Int == 1)
        let noMeta = try f.paystack(Array(#"{"event":"charge.success","data":{"id":5,"reference":"ref-5","amount":100,"paid_at":"2026-03-01T10:00:00Z"}}"#.utf8))
        #expect(noMeta.status == 200)
        let payments = try f.read("payments")
        #expect(payments.count == 2)
        let paid = Self.json(payments.first { $0.value.contains("payment.succeeded") }?.value ?? "{}")
        let pd = paid["data"] as? [String: Any] ?? [:]
        #expect(pd["payment_id"] as? String == "ref-100" && pd["order_id"] as? String == "o-77" && pd["amount"] as? String == "249.90")
        #expect(pd["transaction_id"] as? String == "4099260516" && paid["timestamp"] as? String == "2026-03-01T10:15:30.000Z")
        #expect(payments.allSatisfy { $0.key == "t-0002" })
        let refunded = Self.json(payments.first { $0.value.contains("payment.refunded") }?.value ?? "{}")
        #expect(((refunded["data"] as? [String: Any])?["amount"]) as? String == "50.00")
        for p in payments {
            if case .failure(let rej) = EventDecoder().decode(p.value) { Issue.record("rejected by the decoder: \(rej)") }
        }
        let dead = try f.read(Topics.deadLetters)
        #expect(dead.count == 1 && dead[0].headers.contains("reason=missing_payment_fields"))
        // SIGTERM: in-flight webhooks finish, exit 0.
        kill(f.gateway.processIdentifier, SIGTERM)
        f.gateway.waitUntilExit()
        #expect(f.gateway.terminationStatus == 0)
    }

    /// Numbers from outside are range-checked before arithmetic (issue 27, 2 and 10): a signed
    /// WhatsApp timestamp of 2^53 or −2^63 seconds and Paystack amounts that are not whole cents
    /// are dead letters with a reason and 200 — the gateway stays up and nothing is truncated
    /// into another valid payment.
    @Test func hostileNumbersAreDeadLettersAndTheGatewayStaysUp() throws {
        let f = try GatewayFixture()
        func message(_ id: String, _ ts: String) -> [UInt8] {
            Hooks.webhook([[Hooks.change("106540352242922", messages: [
                #"{"from":"27821234567","id":"\#(id)","timestamp":"\#(ts)","type":"text","text":{"body":"x"}}"#])]])
        }
        for (id, ts) in [("wamid.H1", "9223372036854776"), ("wamid.H2", "-9223372036854775808"), ("wamid.H3", "253402300800")] {
            let r = try f.whatsapp(message(id, ts))
            #expect(r.status == 200, "timestamp \(ts): \(r.status)")
            #expect(try HTTPReply.get("http://127.0.0.1:\(f.port)/healthz").status == 200, "the gateway died on timestamp \(ts)")
        }
        #expect(try f.whatsapp(message("wamid.OK", "253402300799")).status == 200) // 9999-12-31T23:59:59Z still writes
        for amount in ["99.999", "-100", "\"5000\"", "1e30", "true", "9007199254740993"] {
            let body = Array(#"{"event":"charge.success","data":{"id":7,"reference":"ref-h","amount":\#(amount),"paid_at":"2026-03-01T10:00:00Z","metadata":{"tenant_id":"t-0001","order_id":"o-1"}}}"#.utf8)
            let r = try f.paystack(body)
            #expect(r.status == 200, "amount \(amount): \(r.status)")
        }
        #expect(try f.paystack(Hooks.charge("ref-ok", tenant: "t-0001", order: "o-2", amount: 100, id: 8)).status == 200)
        let dead = try f.read(Topics.deadLetters)
        #expect(dead.filter { $0.headers.contains("reason=invalid_timestamp") }.count == 3, "\(dead.map(\.headers))")
        #expect(dead.filter { $0.headers.contains("reason=invalid_money") }.count == 6, "\(dead.map(\.headers))")
        let inbound = try f.read("whatsapp.inbound")
        #expect(inbound.count == 1 && inbound[0].value.contains("9999-12-31T23:59:59.000Z"))
        let payments = try f.read("payments")
        #expect(payments.count == 1 && payments[0].value.contains(#""amount":"1.00""#), "\(payments.map(\.value))")
        #expect(f.gateway.isRunning)
    }

    /// A tenants file with an unquoted number (YAML would read 0123 as 123) is refused: exit 2.
    @Test func tenantsFileNeedsQuotedPhoneNumberIDs() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-tenants-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "106540352242922: t-0001\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runProcess(try wakalaBinary(), ["gateway", "--brokers", "127.0.0.1:1", "--tenants", path, "--port", "0"], timeout: 30,
                               environment: ["WAKALA_WHATSAPP_APP_SECRET": "x"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("quote the phone_number_id"), "\(r.stderr)")
    }

    /// The broker down: 503 (the sender retries), then 200 once it is back; every acknowledged
    /// webhook's event is in Kafka.
    @Test func brokerOutageAnswers503ThenRecovers() throws {
        let f = try GatewayFixture()
        var acknowledged: [String] = []
        func send(_ id: String) throws -> Int {
            let r = try f.whatsapp(Hooks.webhook([[Hooks.change("106540352242922", messages: [Hooks.message(id, "text", 1772355600, #""text":{"body":"x"}"#)])]]))
            if r.status == 200 { acknowledged.append(id) }
            return r.status
        }
        #expect(try send("wamid.B1") == 200)
        kill(f.broker.process.processIdentifier, SIGUSR1)
        // Down once the gateway's readiness check says so (a condition, not a pause).
        var down = false
        let downBy = Date().addingTimeInterval(30)
        while !down && Date() < downBy { down = try HTTPReply.get("http://127.0.0.1:\(f.port)/readyz").status == 503 }
        #expect(down, "/readyz never reported the broker down")
        #expect(try send("wamid.D1") == 503)
        kill(f.broker.process.processIdentifier, SIGUSR2)
        var back = false
        let deadline = Date().addingTimeInterval(30)
        var n = 0
        while Date() < deadline {
            n += 1
            if try send("wamid.R\(n)") == 200 { back = true; break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(back, "no 200 within 30 s of the broker coming back")
        #expect(try send("wamid.B2") == 200)
        #expect(try HTTPReply.get("http://127.0.0.1:\(f.port)/readyz").status == 200)
        let got = Set(try f.read("whatsapp.inbound").compactMap { Self.json($0.value)["correlation_id"] as? String })
        for id in acknowledged { #expect(got.contains(id), "\(id) was acknowledged but is not in Kafka") }
        #expect(acknowledged.count >= 3)
    }
}

import CRdKafka
import Foundation

/// A record to hand to Kafka and wait for.
public struct OutboundRecord: Sendable {
    public var topic: String
    public var key: [UInt8]
    public var value: [UInt8]
    public var headers: [(String, [UInt8])]
    public init(topic: String, key: String, value: [UInt8], headers: [(String, [UInt8])] = []) {
        self.topic = topic; self.key = Array(key.utf8); self.value = value; self.headers = headers
    }
}

/// A producer for request handlers that must not acknowledge what Kafka has not: idempotent,
/// `acks=all`, murmur2 keys; ``send(_:)`` returns once every record of the call has its delivery
/// report — success, or the first failure (`message.timeout.ms` bounds the wait, so an
/// unreachable cluster fails the call instead of hanging it). Thread-safe; a thread of its own
/// serves delivery reports.
public final class AckedProducer: @unchecked Sendable {
    private let rk: OpaquePointer
    private var running = true
    private let lock = NSLock()
    private var thread: Thread?
    /// Under `lock`: set by ``close()``, after which nothing uses `rk`; the calls using it now.
    private var closed = false, users = 0, destroyed = false
    public let timeoutMs: Int

    /// One call's records: resumed when the last report arrives.
    final class Pending: @unchecked Sendable {
        let lock = NSLock()
        var remaining: Int
        var error: String?
        var done: ((String?) -> Void)?
        init(_ n: Int) { remaining = n }

        /// The caller stops waiting (its answer goes out now); later reports change nothing.
        func expire(_ reason: String) {
            lock.lock()
            let finished = done
            done = nil
            lock.unlock()
            finished?(reason)
        }

        func report(_ err: String?) {
            lock.lock()
            if error == nil { error = err }
            remaining -= 1
            let finished = remaining == 0 ? done : nil
            if remaining == 0 { done = nil }
            let e = error
            lock.unlock()
            finished?(e)
        }
    }

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// `timeoutMs`: how long a record may wait for the cluster before its call fails.
    public init(brokers: String, timeoutMs: Int = 5_000, settings: [(String, String)] = []) throws {
        self.timeoutMs = timeoutMs
        let conf = try makeKafkaConf([
            ("bootstrap.servers", brokers),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("partitioner", "murmur2_random"),
            ("linger.ms", "1"),
            ("message.timeout.ms", String(timeoutMs)),
            ("request.timeout.ms", String(min(timeoutMs, 30_000))),
        ] + settings)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, msg, _ in
            guard let msg, let opaque = msg.pointee._private else { return }
            let p = Unmanaged<Pending>.fromOpaque(opaque).takeRetainedValue()
            p.report(msg.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : String(cString: rd_kafka_err2str(msg.pointee.err)))
        }
        rk = try makeKafkaHandle(RD_KAFKA_PRODUCER, conf)
        let t = Thread { [self] in
            while isRunning { rd_kafka_poll(rk, 50) }
        }
        t.name = "wakala-delivery-reports"
        t.start()
        thread = t
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    /// Waits for what is in flight (up to the timeout), then stops and lets the client go (its
    /// connections closed now, not whenever the last reference goes — an embedded broker may be
    /// gone by then). Later calls fail: ``send(_:)`` throws, ``reachable(timeoutMs:)`` is false.
    public func close() {
        lock.lock()
        guard !closed else { lock.unlock(); return }
        closed = true
        lock.unlock()
        while true { // calls already in rk finish first
            lock.lock(); let busy = users > 0; lock.unlock()
            if !busy { break }
            Thread.sleep(forTimeInterval: 0.001)
        }
        _ = rd_kafka_flush(rk, Int32(timeoutMs))
        stopAndDestroy()
    }

    private func stopAndDestroy() {
        lock.lock()
        running = false
        lock.unlock()
        while thread?.isFinished == false { Thread.sleep(forTimeInterval: 0.01) }
        lock.lock()
        defer { lock.unlock() }
        if !destroyed { destroyed = true; rd_kafka_destroy(rk) }
    }

    deinit { stopAndDestroy() }

    /// Marks a call using `rk`; false once closed.
    private func enter() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return false }
        users += 1
        return true
    }

    private func leave() { lock.lock(); users -= 1; lock.unlock() }

    /// Hands the records to Kafka and returns when all are acknowledged; throws ``Failed`` with
    /// the first error otherwise (some may have been delivered: the caller's deterministic event
    /// ids let consumers drop the copies a retry sends again).
    public func send(_ records: [OutboundRecord]) async throws {
        guard !records.isEmpty else { return }
        guard enter() else { throw Failed(description: "the producer is closed") }
        let pending = Pending(records.count)
        let error: String? = await withCheckedContinuation { (c: CheckedContinuation<String?, Never>) in
            // `rk` is used only in here: once the records are handed over, the acknowledgements
            // come through the poll thread (``close()`` waits for the calls still in here).
            defer { leave() }
            pending.lock.lock()
            pending.done = { c.resume(returning: $0) }
            pending.lock.unlock()
            // librdkafka's own message timeout can fire late (its scan, in-flight requests):
            // the caller's bound is ours.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMs)) {
                pending.expire("not acknowledged within \(self.timeoutMs) ms")
            }
            for (i, r) in records.enumerated() {
                var hdrs: OpaquePointer?
                if !r.headers.isEmpty {
                    hdrs = rd_kafka_headers_new(r.headers.count)
                    for (name, v) in r.headers {
                        v.withUnsafeBytes { b in _ = rd_kafka_header_add(hdrs, name, -1, b.baseAddress, b.count) }
                    }
                }
                let opaque = Unmanaged.passRetained(pending).toOpaque()
                let err = r.key.withUnsafeBytes { k in
                    r.value.withUnsafeBytes { v in
                        wakala_produce_opaque(rk, r.topic, k.baseAddress, k.count, v.baseAddress, v.count, hdrs, opaque)
                    }
                }
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if let hdrs { rd_kafka_headers_destroy(hdrs) }
                    Unmanaged<Pending>.fromOpaque(opaque).release()
                    // This record and those not handed over count as failed.
                    let reason = String(cString: rd_kafka_err2str(err))
                    for _ in i..<records.count { pending.report(reason) }
                    return
                }
            }
        }
        if let error { throw Failed(description: error) }
    }

    /// Whether the cluster answers a metadata request within `timeoutMs`.
    public func reachable(timeoutMs: Int32 = 2_000) -> Bool {
        guard enter() else { return false }
        defer { leave() }
        var md: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(rk, 0, nil, &md, timeoutMs)
        if let md { rd_kafka_metadata_destroy(md) }
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }
}

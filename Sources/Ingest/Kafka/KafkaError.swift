import CRdKafka
import Foundation

/// A failure reported by librdkafka, with its message.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// librdkafka's error code, when one caused it.
    public var code: Int32?
    public init(_ d: String, code: Int32? = nil) { description = d; self.code = code }
    init(_ what: String, _ err: rd_kafka_resp_err_t) {
        description = "\(what): \(String(cString: rd_kafka_err2str(err)))"
        code = err.rawValue
    }

    /// An answer retrying cannot change: the client is not allowed (topic, cluster or
    /// transactional-id authorization), or the broker refuses the records themselves (invalid,
    /// corrupt, a format it does not take). Retried, these would wedge a task for good.
    public static func isPermanent(code: Int32?) -> Bool {
        guard let code else { return false }
        return [RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
                RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_INVALID_RECORD,
                RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT, RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS]
            .contains { $0.rawValue == code }
    }

    /// ``isPermanent(code:)`` of this error.
    public var isPermanent: Bool { Self.isPermanent(code: code) }

    /// The cluster answered that the topic (or partition) does not exist.
    public var isUnknownTopic: Bool {
        code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue || code == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue
    }

    /// A record refused for its size (by our producer's `message.max.bytes` or by the broker):
    /// sending it again as it is cannot succeed.
    public var isSizeRefusal: Bool {
        code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue || code == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE.rawValue
    }
}

/// librdkafka settings from an environment variable (`key=value,key=value`), for operators tuning
/// a cluster (or turning on librdkafka's debug log) without a rebuild.
func kafkaSettings(fromEnvironment name: String) -> [(String, String)] {
    guard let extra = ProcessInfo.processInfo.environment[name] else { return [] }
    return extra.split(separator: ",").compactMap { kv in
        let p = kv.split(separator: "=", maxSplits: 1).map(String.init)
        return p.count == 2 ? (p[0], p[1]) : nil
    }
}

/// Builds a librdkafka configuration from key/value pairs, failing on an unknown key or bad value.
func makeKafkaConf(_ settings: [(String, String)]) throws -> OpaquePointer {
    let conf = rd_kafka_conf_new()!
    var err = [CChar](repeating: 0, count: 512)
    for (k, v) in settings {
        if rd_kafka_conf_set(conf, k, v, &err, err.count) != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            throw KafkaError("kafka setting \(k)=\(v): \(cString(err))")
        }
    }
    return conf
}

/// Creates a client handle from a configuration (which the handle then owns).
func makeKafkaHandle(_ type: rd_kafka_type_t, _ conf: OpaquePointer) throws -> OpaquePointer {
    var err = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &err, err.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError("kafka client: \(cString(err))")
    }
    return rk
}

/// A NUL-terminated C buffer as a String.
func cString(_ a: [CChar]) -> String {
    String(decoding: a.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

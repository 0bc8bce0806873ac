import Domain

/// The pipeline-file reference (`wakala docs`, docs/PIPELINES.md): each source, operator and sink
/// type with what it does, its outputs and their units, an example, and its keys read from the
/// schema `validate` checks against — so the keys, types, allowed values and defaults written
/// here are the ones enforced. (Issue 29 moves the descriptions beside each component's code,
/// into the component registry.)
public enum PipelineReference {
    struct Kind {
        var type: String
        var summary: String
        var outputs: String
        var example: String
    }

    static let sources: [Kind] = [
        Kind(type: "kafka", summary: "Records from Kafka topics (`wakala run`). Partition p of every input topic is task p; each record is owned by the task its key's partition names under `partitioner`, and one read elsewhere is forwarded to its owner.",
             outputs: "Contract events (CONTRACT §1), decoded and validated; bad records go to the dead letters with a reason.",
             example: "- name: events\n  type: kafka\n  brokers: ${WAKALA_KAFKA_BROKERS:-127.0.0.1:9092}\n  topics: [orders, payments, deliveries, driver-locations, usage, tenants, whatsapp.inbound]"),
        Kind(type: "file", summary: "Records from an NDJSON or NDJSON.zst file (`wakala replay --input`, `wakala test`).",
             outputs: "As for kafka; offsets are line numbers.",
             example: "- name: events\n  type: file\n  path: stream.ndjson.zst"),
    ]

    static let operators: [Kind] = [
        Kind(type: "dedupe", summary: "Drops an event whose key (default `event_id`) was seen within `ttl` of event time (default 24h); only the first copy goes on.",
             outputs: "The events it keeps, unchanged.", example: "- name: dedupe\n  type: dedupe\n  input: events\n  ttl: 24h"),
        Kind(type: "window_aggregate", summary: "Counts events (and sums a money field) per key and event-time window — tumbling, hopping or session — in UTC or the tenant's timezone; a window is emitted once the watermark passes its end, and again (`update: true`) for an event within the allowed lateness.",
             outputs: "Rows `key`, `window_start`, `window_end` (RFC 3339, UTC), `count`, `sum` (integer cents, with `sum`), `update` (bool). A postgres sink keeps them in table `wakala.<output or name>` (upserted by key and window); a parquet sink under `<output or name>/date=…`.",
             example: "- name: orders_per_hour\n  type: window_aggregate\n  input: dedupe\n  events: [order.created]\n  key: tenant_id\n  sum: data.total_amount\n  window: {type: tumbling, size: 1h}\n  timezone: tenant"),
        Kind(type: "repartition", summary: "Hands events on keyed by another field (Kafka Streams' repartition): on Kafka through an internal topic to the task owning the new key, in a file run straight on. `lookup` gives events without the key the key of the latest keyed event with the same lookup value.",
             outputs: "The same events, now at the task of their new key.",
             example: "- name: deliveries_by_driver\n  type: repartition\n  input: dedupe\n  events: [delivery.assigned, delivery.picked_up, delivery.completed, delivery.cancelled]\n  key: data.driver_id\n  lookup: data.delivery_id"),
        Kind(type: "order_lifecycle", summary: "The order state machine (CONTRACT §2.2): transitions with their guards, payment status, the payment-failure saga; events of an order not yet created wait for the allowed lateness.",
             outputs: "Derived events `order.status_changed`, `order.transition_rejected`, `order.compensation_requested` (kafka sink: the topic in `output`); read models `orders`, `order_status_history`, `order_transition_rejections` (postgres sink). Money in integer cents, times RFC 3339 UTC.",
             example: "- name: orders\n  type: order_lifecycle\n  input: dedupe\n  output: order-status\n  retain_ended: 7d"),
        Kind(type: "quota", summary: "Per-tenant usage against the tier's limits (CONTRACT §2.3): API calls in a sliding hour, orders in the tenant's calendar month, gauges; soft limit (default 80 %) and hard limit episodes.",
             outputs: "Derived events `quota.warning`, `quota.exceeded`; read models `tenants`, `tenant_usage`.",
             example: "- name: quotas\n  type: quota\n  input: dedupe\n  output: quota-alerts"),
        Kind(type: "delivery_eta", summary: "Delivery tracking (CONTRACT §2.4): deliveries from `input`, driver locations from `locations`, joined in event time; ETA = event time + remaining haversine distance / speed; geofences and route deviation.",
             outputs: "Derived events `delivery.eta_updated` (eta and previous_eta RFC 3339 UTC, distance_remaining_m metres), `delivery.arrived_at_pickup`, `delivery.arrived_at_dropoff`, `delivery.route_deviation` (cross_track_m metres); read model `deliveries`.",
             example: "- name: deliveries\n  type: delivery_eta\n  input: deliveries_by_driver\n  locations: dedupe\n  output: delivery-eta"),
        Kind(type: "rollup", summary: "Per tenant, hourly and daily buckets in the tenant's timezone (CONTRACT §2.5): orders by creation cohort with their current status, products, payments, deliveries, WhatsApp messages, exact unique and new customers.",
             outputs: "Read models `rollup_hourly`, `rollup_daily`, `rollup_products`, `rollup_payments`, `rollup_deliveries`, `rollup_messages`, `rollup_customers` (money in integer cents, seconds as numbers); what the dashboard serves.",
             example: "- name: rollups\n  type: rollup\n  input: dedupe\n  granularities: [hour, day]\n  timezone: tenant\n  statuses: orders"),
    ]

    static let sinks: [Kind] = [
        Kind(type: "postgres", summary: "Read models into schema `wakala`, written in the checkpoint's one transaction with the positions and state (exactly once).",
             outputs: "Takes \(PipelineConfig.describe(PipelineConfig.sinkTakes["postgres"]!)).",
             example: "- name: read_models\n  type: postgres\n  url: ${WAKALA_POSTGRES_URL:-postgresql://127.0.0.1/wakala}\n  inputs: [orders, quotas, deliveries, rollups]"),
        Kind(type: "parquet", summary: "Columnar files compressed with zstd, partitioned by UTC date, committed through the checkpoint's manifest; each task's part files of a closed day merged (`compact`).",
             outputs: "Takes \(PipelineConfig.describe(PipelineConfig.sinkTakes["parquet"]!)): a source's or a dedupe's events go to `events`, `order_facts`, `order_items`.",
             example: "- name: columnar\n  type: parquet\n  path: ${WAKALA_DATA_DIR:-data}/parquet\n  inputs: [dedupe]"),
        Kind(type: "kafka", summary: "Derived events to the topics their operators' `output` names, exactly once (a Kafka transaction per checkpoint) with `wakala run`.",
             outputs: "Takes \(PipelineConfig.describe(PipelineConfig.sinkTakes["kafka"]!)).",
             example: "- name: derived\n  type: kafka\n  brokers: ${WAKALA_KAFKA_BROKERS:-127.0.0.1:9092}\n  inputs: [orders, quotas, deliveries]"),
        Kind(type: "dead_letters", summary: "Where records that are not accepted go: the Kafka `topic` (default wakala.dlq) with `reason`, `detail`, `source`, `partition`, `offset` headers, or part files under `path`.",
             outputs: "The original bytes of each record, unchanged.",
             example: "- name: dlq\n  type: dead_letters\n  topic: wakala.dlq"),
    ]

    /// The reference as Markdown.
    public static func markdown() -> String {
        var out = """
        # Pipeline files

        Generated by `wakala docs` (a test fails when this file is stale). A pipeline file is YAML:
        `pipeline` (its name), `sources`, `event_time`, `operators` (each reads a source or an
        operator declared above it: `input`, or `inputs`), `sinks` and `checkpoint`.
        `${NAME}` and `${NAME:-default}` read the environment. Check a file with
        `wakala validate FILE` (every problem in one run), draw it with `wakala graph FILE`.
        Money is integer cents, times are UTC milliseconds inside and RFC 3339 at the edges,
        durations are written `30s`, `10m`, `1h`, `7d`.

        ## Top-level keys

        """
        out += "\n" + table(PipelineConfig.root, skip: [])
        out += "\n### event_time\n\n"
        if case .object(let s)? = PipelineConfig.root.field("event_time")?.type { out += table(s, skip: []) }
        out += "\n### checkpoint\n\n"
        if case .object(let s)? = PipelineConfig.root.field("checkpoint")?.type { out += table(s, skip: []) }
        for (title, kinds, schemas) in [("Sources", sources, PipelineConfig.sourceSchemas), ("Operators", operators, PipelineConfig.operatorSchemas),
                                        ("Sinks", sinks, PipelineConfig.sinkSchemas)] {
            out += "\n## \(title)\n"
            for k in kinds {
                guard let schema = schemas[k.type] else { continue }
                out += "\n### `\(k.type)`\n\n\(k.summary)\n\n**Outputs.** \(k.outputs)\n\n```yaml\n\(k.example)\n```\n\n"
                out += table(schema, skip: ["name", "type"])
            }
        }
        return out
    }

    static func table(_ schema: Schema, skip: Set<String>) -> String {
        var out = "| key | required | value | meaning |\n|---|---|---|---|\n"
        for (key, f) in schema.fields where !skip.contains(key) {
            out += "| `\(key)` | \(f.required ? "yes" : "no") | \(describe(f.type).replacingOccurrences(of: "|", with: "\\|")) | \(f.help.replacingOccurrences(of: "|", with: "\\|")) |\n"
        }
        return out
    }

    static func describe(_ t: FieldType) -> String {
        switch t {
        case .oneOf(let v) where v.count > 8: return "one of \(v.count) values (see CONTRACT §1)"
        case .list(.oneOf(let v)) where v.count > 8: return "a list of event types"
        case .object: return "a mapping (below)"
        case .tagged(let variants):
            return "a mapping whose `type` is " + variants.keys.sorted().map { v in
                "`\(v)` (" + (variants[v]!.fields.filter { $0.0 != "type" }.map { "`\($0.0)`: \($0.1.type.name)" }.joined(separator: ", ")) + ")"
            }.joined(separator: ", ")
        case .list(.tagged(let variants)): return "a list; each `type`: one of \(variants.keys.sorted().joined(separator: ", "))"
        default: return t.name
        }
    }

    /// A pipeline made of the examples above alone, in order (`source`: kafka or file): what a
    /// newcomer writes from this reference.
    public static func examplePipeline(source: String) -> String {
        func indent(_ s: String) -> String { s.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") }
        let src = sources.first { $0.type == source }!.example
        return "pipeline: example\nsources:\n" + indent(src) + "\noperators:\n" + operators.map { indent($0.example) }.joined(separator: "\n")
            + "\nsinks:\n" + sinks.map { indent($0.example) }.joined(separator: "\n") + "\n"
    }
}

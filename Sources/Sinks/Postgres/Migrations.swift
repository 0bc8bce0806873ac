import Operators
import Postgres

/// The pipeline's own numbered migrations of schema `wakala` (CONTRACT §3.3). Applied in order
/// inside one transaction under an advisory lock, each recorded in `wakala.schema_migrations`, so
/// running them twice (or from two processes at once) is a no-op.
public enum Migrations {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var sql: String
    }

    public static let all: [Migration] = [
        Migration(version: 1, name: "read models", sql: """
            CREATE TABLE wakala.tenants (
                tenant_id text PRIMARY KEY, tier text NOT NULL, timezone text NOT NULL);
            CREATE TABLE wakala.orders (
                tenant_id text NOT NULL, order_id text NOT NULL, status text NOT NULL, payment_status text,
                payment_method text, customer_id text, vendor_id text, delivery_id text, total_cents bigint NOT NULL,
                created_at timestamptz, updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, order_id));
            CREATE TABLE wakala.order_status_history (
                tenant_id text NOT NULL, order_id text NOT NULL, seq int NOT NULL, from_status text, to_status text NOT NULL,
                event_id text NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (tenant_id, order_id, seq));
            CREATE TABLE wakala.order_transition_rejections (
                event_id text PRIMARY KEY, tenant_id text NOT NULL, order_id text NOT NULL, state text, event_type text NOT NULL,
                rejected_event_id text NOT NULL, reason text NOT NULL, at timestamptz NOT NULL);
            CREATE TABLE wakala.deliveries (
                delivery_id text PRIMARY KEY, tenant_id text NOT NULL, order_id text NOT NULL, driver_id text NOT NULL,
                status text NOT NULL, eta timestamptz, last_lat double precision, last_lng double precision);
            CREATE TABLE wakala.tenant_usage (
                tenant_id text NOT NULL, resource text NOT NULL, used numeric NOT NULL, "limit" bigint, status text NOT NULL,
                PRIMARY KEY (tenant_id, resource));
            CREATE TABLE wakala.rollup_hourly (
                tenant_id text NOT NULL, granularity text NOT NULL, bucket_start timestamptz NOT NULL, orders bigint NOT NULL,
                gross_revenue_cents bigint NOT NULL, net_revenue_cents bigint NOT NULL, items_sold bigint NOT NULL,
                completed_orders bigint NOT NULL, cancelled_orders bigint NOT NULL, fulfillment_seconds_sum numeric NOT NULL,
                unique_customers bigint NOT NULL, new_customers bigint NOT NULL, PRIMARY KEY (tenant_id, bucket_start));
            CREATE TABLE wakala.rollup_daily (LIKE wakala.rollup_hourly INCLUDING ALL);
            CREATE TABLE wakala.rollup_products (
                tenant_id text NOT NULL, granularity text NOT NULL, bucket_start timestamptz NOT NULL, product_id text NOT NULL,
                name text, orders bigint NOT NULL, quantity bigint NOT NULL, revenue_cents bigint NOT NULL,
                PRIMARY KEY (tenant_id, granularity, bucket_start, product_id));
            CREATE TABLE wakala.rollup_payments (
                tenant_id text NOT NULL, granularity text NOT NULL, bucket_start timestamptz NOT NULL, gateway text NOT NULL,
                method text NOT NULL, initiated bigint NOT NULL, succeeded bigint NOT NULL, failed bigint NOT NULL,
                succeeded_amount_cents bigint NOT NULL, PRIMARY KEY (tenant_id, granularity, bucket_start, gateway, method));
            CREATE TABLE wakala.rollup_deliveries (
                tenant_id text NOT NULL, granularity text NOT NULL, bucket_start timestamptz NOT NULL, completed bigint NOT NULL,
                delivery_seconds_sum numeric NOT NULL, PRIMARY KEY (tenant_id, granularity, bucket_start));
            CREATE TABLE wakala.rollup_messages (
                tenant_id text NOT NULL, granularity text NOT NULL, bucket_start timestamptz NOT NULL, type text NOT NULL,
                count bigint NOT NULL, PRIMARY KEY (tenant_id, granularity, bucket_start, type));
            """),
        Migration(version: 2, name: "checkpoints and the file manifest", sql: """
            CREATE TABLE wakala.checkpoints (
                pipeline text NOT NULL, partition int NOT NULL, checkpoint_id bigint NOT NULL, source_offset bigint NOT NULL,
                watermark bigint NOT NULL, state bytea NOT NULL, written_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline, partition));
            CREATE TABLE wakala.file_manifest (
                pipeline text NOT NULL, path text NOT NULL, checkpoint_id bigint NOT NULL, kind text NOT NULL,
                rows bigint NOT NULL, bytes bigint NOT NULL, PRIMARY KEY (pipeline, path));
            """),
        Migration(version: 3, name: "read-path indexes", sql: """
            CREATE INDEX orders_by_status ON wakala.orders (tenant_id, status, created_at);
            CREATE INDEX deliveries_by_tenant ON wakala.deliveries (tenant_id);
            CREATE INDEX rejections_by_order ON wakala.order_transition_rejections (tenant_id, order_id);
            CREATE INDEX manifest_by_checkpoint ON wakala.file_manifest (pipeline, checkpoint_id);
            """),
        Migration(version: 4, name: "Kafka tasks: per-topic positions, internal topic starts, the transactional outbox", sql: """
            ALTER TABLE wakala.checkpoints ADD COLUMN positions jsonb NOT NULL DEFAULT '{}';
            CREATE TABLE wakala.internal_topic_starts (
                pipeline text NOT NULL, topic text NOT NULL, partition int NOT NULL, start_offset bigint NOT NULL,
                PRIMARY KEY (pipeline, topic, partition));
            CREATE TABLE wakala.kafka_outbox (
                pipeline text NOT NULL, task int NOT NULL, checkpoint_id bigint NOT NULL, seq int NOT NULL, topic text NOT NULL,
                partition int NOT NULL, start_offset bigint NOT NULL,
                key bytea NOT NULL, value bytea NOT NULL, headers bytea NOT NULL, PRIMARY KEY (pipeline, task, checkpoint_id, seq));
            """),
        Migration(version: 5, name: "serving: deliveries keyed by tenant, per-bucket customer sets", sql: """
            ALTER TABLE wakala.deliveries DROP CONSTRAINT deliveries_pkey;
            ALTER TABLE wakala.deliveries ADD PRIMARY KEY (tenant_id, delivery_id);
            DROP INDEX wakala.deliveries_by_tenant;
            CREATE TABLE wakala.rollup_customers (
                tenant_id text NOT NULL, granularity text NOT NULL, bucket_start timestamptz NOT NULL, customers text[] NOT NULL,
                PRIMARY KEY (tenant_id, granularity, bucket_start));
            """),
        Migration(version: 6, name: "incremental checkpoints: keyed operator state, one row per key", sql: """
            CREATE TABLE wakala.state_entries (
                pipeline text NOT NULL, partition int NOT NULL, operator text NOT NULL, key text NOT NULL, value bytea NOT NULL,
                PRIMARY KEY (pipeline, partition, operator, key));
            """),
        // One row per checkpoint instead of one per record: the records are only ever written,
        // read and deleted a checkpoint at a time, and as one zstd-compressed body they cost
        // Postgres a fraction of the rows (16 tasks × a 1 M-record run spent 6.2 s of server CPU
        // in the per-record COPY). Rows of the old table (written by an earlier version and not
        // yet published) are still read and republished on recovery.
        Migration(version: 7, name: "the Kafka outbox: one compressed batch per checkpoint", sql: """
            CREATE TABLE wakala.kafka_outbox_batches (
                pipeline text NOT NULL, task int NOT NULL, checkpoint_id bigint NOT NULL, records int NOT NULL, body bytea NOT NULL,
                PRIMARY KEY (pipeline, task, checkpoint_id));
            ALTER TABLE wakala.kafka_outbox_batches ALTER COLUMN body SET STORAGE EXTERNAL;
            """),
        // The state snapshot is zstd-compressed already: Postgres's own compression of it (pglz,
        // ~10 ms a checkpoint for the week's 2.7 MB snapshot) bought nothing.
        Migration(version: 8, name: "checkpoint state stored as written", sql: """
            ALTER TABLE wakala.checkpoints ALTER COLUMN state SET STORAGE EXTERNAL;
            """),
        // `replay --sinks`: the file a pipeline's checkpoints were made from, so a rerun with
        // another file is refused instead of resuming past records it never read.
        Migration(version: 9, name: "the input a file replay's checkpoints belong to", sql: """
            CREATE TABLE wakala.replay_inputs (
                pipeline text PRIMARY KEY, path text NOT NULL, bytes bigint NOT NULL, head_bytes int NOT NULL,
                head_sha256 text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now());
            """),
        // `partitioner: auto`: the partitioner decided for a pipeline's inputs, once, so every
        // process and restart places and checks keys the same way.
        Migration(version: 10, name: "the partitioner a pipeline's inputs were found placed by", sql: """
            CREATE TABLE wakala.source_partitioners (
                pipeline text PRIMARY KEY, partitioner text NOT NULL, votes text NOT NULL, decided_at timestamptz NOT NULL DEFAULT now());
            """),
    ]

    /// Applies the migrations not applied yet; returns their versions.
    @discardableResult
    public static func run(_ db: PGConnection) throws -> [Int] {
        try db.transaction {
            try db.execute("SELECT pg_advisory_xact_lock(7238429)")
            try db.execute("CREATE SCHEMA IF NOT EXISTS wakala")
            try db.execute("CREATE TABLE IF NOT EXISTS wakala.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            let done = Set(try db.query("SELECT version FROM wakala.schema_migrations").rows.compactMap { $0[0].flatMap(Int.init) })
            var applied: [Int] = []
            for m in all where !done.contains(m.version) {
                try db.execute(m.sql)
                try db.query("INSERT INTO wakala.schema_migrations (version, name) VALUES ($1, $2)", [String(m.version), m.name])
                applied.append(m.version)
            }
            return applied
        }
    }

    /// The table of a `window_aggregate` operator a postgres sink takes (its `output`, else its
    /// name; checked to be a plain identifier when the pipeline loads): made from the operator's
    /// row shape on start, upserted by key and window.
    /// Under the migrations' advisory lock: tasks starting side by side would otherwise race in
    /// `CREATE TABLE IF NOT EXISTS` (which is not safe against a concurrent create).
    public static func ensureWindowTable(_ table: String, sums: Bool, _ db: PGConnection) throws {
        try db.transaction {
            try db.execute("SELECT pg_advisory_xact_lock(7238429)")
            try db.execute("""
                CREATE TABLE IF NOT EXISTS wakala.\(table) (
                    key text NOT NULL, window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, count bigint NOT NULL,
                    \(sums ? "sum bigint NOT NULL, " : "")PRIMARY KEY (key, window_start, window_end))
                """)
        }
    }

    /// Primary-key columns of a `window_aggregate` operator's table.
    public static let windowKeys = ["key", "window_start", "window_end"]

    /// The primary key of `table`: a read model's, or a window table's when its rows have that shape.
    static func keys(of table: String, firstRow: OutputRow?) -> [String]? {
        if let k = primaryKeys[table] { return k }
        guard let f = firstRow?.fields, f.count >= 3, f[0].0 == "key", f[1].0 == "window_start", f[2].0 == "window_end" else { return nil }
        return windowKeys
    }

    /// Primary-key columns of each read-model table (what an upsert conflicts on).
    public static let primaryKeys: [String: [String]] = [
        "tenants": ["tenant_id"], "orders": ["tenant_id", "order_id"], "order_status_history": ["tenant_id", "order_id", "seq"],
        "order_transition_rejections": ["event_id"], "deliveries": ["tenant_id", "delivery_id"], "tenant_usage": ["tenant_id", "resource"],
        "rollup_hourly": ["tenant_id", "bucket_start"], "rollup_daily": ["tenant_id", "bucket_start"],
        "rollup_products": ["tenant_id", "granularity", "bucket_start", "product_id"],
        "rollup_payments": ["tenant_id", "granularity", "bucket_start", "gateway", "method"],
        "rollup_deliveries": ["tenant_id", "granularity", "bucket_start"],
        "rollup_messages": ["tenant_id", "granularity", "bucket_start", "type"],
        "rollup_customers": ["tenant_id", "granularity", "bucket_start"],
    ]
}

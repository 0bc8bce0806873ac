#!/usr/bin/env python3
"""Recomputes the rollups of CONTRACT §2.5 with DuckDB SQL straight from raw NDJSON events and
compares them with the rows `wakala replay` wrote (rollups.ndjson). Prints one JSON object:
{"buckets": n, "differences": [...]} and exits 0 (the Swift test asserts on the output).

Independent of the Swift code: dedupe by event_id, cohort by created time in the tenant's
timezone (from tenant.created, default Africa/Johannesburg), status from the order's events."""
import json
import sys

import duckdb

events_path, rollups_path = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"""
CREATE TABLE raw AS SELECT * FROM read_json('{events_path}', format='newline_delimited',
  columns={{event_id: 'VARCHAR', event_type: 'VARCHAR', "timestamp": 'VARCHAR', tenant_id: 'VARCHAR', data: 'JSON'}});
CREATE TABLE ev AS SELECT event_id, any_value(event_type) AS type, any_value(tenant_id) AS tenant,
  epoch_ms(any_value(CAST("timestamp" AS TIMESTAMPTZ))) AS ms, any_value(data) AS data
  FROM raw GROUP BY event_id;
CREATE TABLE tz AS SELECT tenant, coalesce(any_value(json_extract_string(data, '$.timezone')), 'Africa/Johannesburg') AS zone
  FROM ev WHERE type = 'tenant.created' GROUP BY tenant;
CREATE MACRO bucket(ms, zone, g) AS epoch_ms(
  (date_trunc(g, make_timestamp(ms * 1000) AT TIME ZONE 'UTC' AT TIME ZONE zone)) AT TIME ZONE zone);
CREATE TABLE orders AS SELECT e.tenant, json_extract_string(data, '$.order_id') AS order_id,
  json_extract_string(data, '$.customer_id') AS customer, e.ms AS created,
  round(CAST(json_extract_string(data, '$.total_amount') AS DECIMAL(18,2)) * 100)::BIGINT AS total,
  (SELECT sum(CAST(json_extract_string(i, '$.quantity') AS BIGINT)) FROM (SELECT unnest(json_extract(data, '$.items[*]')) AS i)) AS items,
  coalesce(z.zone, 'Africa/Johannesburg') AS zone
  FROM ev e LEFT JOIN tz z USING (tenant) WHERE type = 'order.created';
CREATE TABLE done AS SELECT tenant, json_extract_string(data, '$.order_id') AS order_id, min(ms) AS completed
  FROM ev WHERE type = 'order.completed' GROUP BY ALL;
CREATE TABLE cancelled AS SELECT DISTINCT tenant, json_extract_string(data, '$.order_id') AS order_id
  FROM ev WHERE type = 'order.cancelled';
CREATE TABLE first_order AS SELECT tenant, customer, min(created) AS first FROM orders GROUP BY ALL;
""")

expected = {}
for g, table in (("hour", "rollup_hourly"), ("day", "rollup_daily")):
    rows = con.execute(f"""
      SELECT o.tenant, bucket(o.created, o.zone, '{g}') AS b,
        count(*) AS orders, sum(o.total) AS gross,
        coalesce(sum(o.total) FILTER (WHERE d.order_id IS NOT NULL), 0) AS net,
        sum(o.items) AS items,
        count(d.order_id) AS completed,
        count(c.order_id) AS cancelled,
        coalesce(sum(d.completed - o.created) FILTER (WHERE d.order_id IS NOT NULL), 0) AS fulfil_ms,
        count(DISTINCT o.customer) AS uniq,
        count(DISTINCT o.customer) FILTER (WHERE f.first = o.created) AS new
      FROM orders o
      LEFT JOIN done d USING (tenant, order_id)
      LEFT JOIN cancelled c USING (tenant, order_id)
      LEFT JOIN first_order f ON f.tenant = o.tenant AND f.customer = o.customer
      GROUP BY ALL""").fetchall()
    for t, b, *vals in rows:
        expected[(table, t, b)] = vals

# Per product: distinct orders, quantity, revenue (all orders created in the bucket).
for g, gname in (("hour", "hour"), ("day", "day")):
    rows = con.execute(f"""
      WITH items AS (SELECT o.tenant, o.order_id, o.created, o.zone, unnest(json_extract(e.data, '$.items[*]')) AS i
                     FROM orders o JOIN ev e ON e.type = 'order.created' AND e.tenant = o.tenant
                       AND json_extract_string(e.data, '$.order_id') = o.order_id)
      SELECT tenant, bucket(created, zone, '{g}') AS b, json_extract_string(i, '$.product_id') AS product,
        count(DISTINCT order_id), sum(CAST(json_extract_string(i, '$.quantity') AS BIGINT)),
        sum(CAST(json_extract_string(i, '$.quantity') AS BIGINT) * round(CAST(json_extract_string(i, '$.unit_price') AS DECIMAL(18,2)) * 100)::BIGINT)
      FROM items GROUP BY ALL""").fetchall()
    for t, b, product, *vals in rows:
        expected[("rollup_products", gname, t, b, product)] = vals
    # Payments by gateway/method of the payment's initiated event, bucketed by each event's time.
    rows = con.execute(f"""
      WITH init AS (SELECT tenant, json_extract_string(data, '$.payment_id') AS pid,
                      any_value(json_extract_string(data, '$.gateway')) AS gw, any_value(json_extract_string(data, '$.method')) AS m
                    FROM ev WHERE type = 'payment.initiated' GROUP BY ALL),
           p AS (SELECT e.tenant, e.type, e.ms, coalesce(z.zone, 'Africa/Johannesburg') AS zone,
                   coalesce(i.gw, 'unknown') AS gw, coalesce(i.m, 'unknown') AS m,
                   CASE WHEN e.type = 'payment.succeeded' THEN round(CAST(json_extract_string(e.data, '$.amount') AS DECIMAL(18,2)) * 100)::BIGINT ELSE 0 END AS amount
                 FROM ev e LEFT JOIN init i ON i.tenant = e.tenant AND i.pid = json_extract_string(e.data, '$.payment_id')
                 LEFT JOIN tz z ON z.tenant = e.tenant
                 WHERE e.type IN ('payment.initiated', 'payment.succeeded', 'payment.failed'))
      SELECT tenant, bucket(ms, zone, '{g}'), gw, m, count(*) FILTER (WHERE type = 'payment.initiated'),
        count(*) FILTER (WHERE type = 'payment.succeeded'), count(*) FILTER (WHERE type = 'payment.failed'), sum(amount)
      FROM p GROUP BY ALL""").fetchall()
    for t, b, gw, m, *vals in rows:
        expected[("rollup_payments", gname, t, b, gw + "/" + m)] = vals
    # Deliveries by completion time: count and Σ (completed − assigned).
    rows = con.execute(f"""
      WITH a AS (SELECT tenant, json_extract_string(data, '$.delivery_id') AS d, min(ms) AS assigned FROM ev WHERE type = 'delivery.assigned' GROUP BY ALL)
      SELECT e.tenant, bucket(e.ms, coalesce(z.zone, 'Africa/Johannesburg'), '{g}'), count(*), sum(e.ms - a.assigned)
      FROM ev e JOIN a ON a.tenant = e.tenant AND a.d = json_extract_string(e.data, '$.delivery_id')
      LEFT JOIN tz z ON z.tenant = e.tenant WHERE e.type = 'delivery.completed' GROUP BY ALL""").fetchall()
    for t, b, *vals in rows:
        expected[("rollup_deliveries", gname, t, b)] = vals
    # WhatsApp messages by type.
    rows = con.execute(f"""
      SELECT e.tenant, bucket(e.ms, coalesce(z.zone, 'Africa/Johannesburg'), '{g}'), json_extract_string(e.data, '$.type'), count(*)
      FROM ev e LEFT JOIN tz z ON z.tenant = e.tenant WHERE e.type = 'whatsapp.message.received' GROUP BY ALL""").fetchall()
    for t, b, typ, *vals in rows:
        expected[("rollup_messages", gname, t, b, typ)] = vals

got = {}
with open(rollups_path) as f:
    for line in f:
        r = json.loads(line)
        from datetime import datetime
        b = int(datetime.fromisoformat(r["bucket_start"].replace("Z", "+00:00")).timestamp() * 1000)
        g, t = r["granularity"], r["tenant_id"]
        if r["table"] == "rollup_products":
            got[("rollup_products", g, t, b, r["product_id"])] = [r["orders"], r["quantity"], r["revenue_cents"]]
            continue
        if r["table"] == "rollup_payments":
            got[("rollup_payments", g, t, b, r["gateway"] + "/" + r["method"])] = [r["initiated"], r["succeeded"], r["failed"], r["succeeded_amount_cents"]]
            continue
        if r["table"] == "rollup_deliveries":
            got[("rollup_deliveries", g, t, b)] = [r["completed"], round(float(r["delivery_seconds_sum"]) * 1000)]
            continue
        if r["table"] == "rollup_messages":
            got[("rollup_messages", g, t, b, r["type"])] = [r["count"]]
            continue
        got[(r["table"], r["tenant_id"], b)] = [r["orders"], r["gross_revenue_cents"], r["net_revenue_cents"], r["items_sold"],
                                               r["completed_orders"], r["cancelled_orders"],
                                               round(float(r["fulfillment_seconds_sum"]) * 1000), r["unique_customers"], r["new_customers"]]

diffs = []
for k in sorted(set(expected) | set(got), key=str):
    e, g = expected.get(k), got.get(k)
    if e is None or g is None or [int(x) for x in e] != [int(x) for x in g]:
        diffs.append({"bucket": list(map(str, k)), "duckdb": e and [int(x) for x in e], "wakala": g})
tables = {}
for k in expected:
    tables[k[0]] = tables.get(k[0], 0) + 1
print(json.dumps({"buckets": len(expected), "by_table": tables, "differences": diffs[:20], "count": len(diffs)}))

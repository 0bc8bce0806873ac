#!/usr/bin/env python3
"""Computes the dashboard of CONTRACT §3.2 with DuckDB SQL straight from raw NDJSON events,
independently of the Swift code, for the queries given on the command line.

usage: dashboard_crosscheck.py EVENTS.ndjson QUERY...
QUERY: TENANT,FROM_DATE,TO_DATE,GRANULARITY with dates YYYY-MM-DD or YYYY-MM-DDTHH (local time in
the tenant's timezone, from its tenant.created; default Africa/Johannesburg).

Prints one JSON array: per query {"tenant", "from", "to", "granularity", "expected": {...}} where
from/to are RFC 3339 with the tenant's offset (what to ask `wakala query` / `/v1/dashboard`) and
expected holds the dashboard's fields."""
import json
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import duckdb

events_path, queries = sys.argv[1], sys.argv[2:]
con = duckdb.connect()
con.execute(f"""
CREATE TABLE raw AS SELECT * FROM read_json('{events_path}', format='newline_delimited',
  columns={{event_id: 'VARCHAR', event_type: 'VARCHAR', "timestamp": 'VARCHAR', tenant_id: 'VARCHAR', data: 'JSON'}});
CREATE TABLE ev AS SELECT event_id, any_value(event_type) AS type, any_value(tenant_id) AS tenant,
  epoch_ms(any_value(CAST("timestamp" AS TIMESTAMPTZ))) AS ms, any_value(data) AS data
  FROM raw GROUP BY event_id;
CREATE TABLE tz AS SELECT tenant, coalesce(any_value(json_extract_string(data, '$.timezone')), 'Africa/Johannesburg') AS zone
  FROM ev WHERE type = 'tenant.created' GROUP BY tenant;
CREATE TABLE orders AS SELECT e.tenant, e.event_id, json_extract_string(data, '$.order_id') AS order_id,
  json_extract_string(data, '$.customer_id') AS customer, e.ms AS created,
  round(CAST(json_extract_string(data, '$.total_amount') AS DECIMAL(18,2)) * 100)::BIGINT AS total,
  (SELECT sum(CAST(json_extract_string(i, '$.quantity') AS BIGINT)) FROM (SELECT unnest(json_extract(data, '$.items[*]')) AS i)) AS items
  FROM ev e WHERE type = 'order.created';
CREATE TABLE done AS SELECT tenant, json_extract_string(data, '$.order_id') AS order_id, min(ms) AS completed
  FROM ev WHERE type = 'order.completed' GROUP BY ALL;
CREATE TABLE cancelled AS SELECT DISTINCT tenant, json_extract_string(data, '$.order_id') AS order_id
  FROM ev WHERE type = 'order.cancelled';
CREATE TABLE first_order AS SELECT tenant, customer, min(created) AS first FROM orders GROUP BY ALL;
CREATE TABLE items AS SELECT o.tenant, o.order_id, o.created, o.event_id, unnest(json_extract(e.data, '$.items[*]')) AS i
  FROM orders o JOIN ev e ON e.event_id = o.event_id;
CREATE TABLE init AS SELECT tenant, json_extract_string(data, '$.payment_id') AS pid,
  any_value(json_extract_string(data, '$.gateway')) AS gw, any_value(json_extract_string(data, '$.method')) AS m
  FROM ev WHERE type = 'payment.initiated' GROUP BY ALL;
CREATE TABLE assigned AS SELECT tenant, json_extract_string(data, '$.delivery_id') AS d, min(ms) AS at
  FROM ev WHERE type = 'delivery.assigned' GROUP BY ALL;
""")
zones = dict(con.execute("SELECT tenant, zone FROM tz").fetchall())


def sales(tenant, lo, hi):
    r = con.execute("""
      SELECT count(*), coalesce(sum(o.total), 0), coalesce(sum(o.total) FILTER (WHERE d.order_id IS NOT NULL), 0),
        coalesce(sum(o.items), 0), count(d.order_id), count(c.order_id),
        coalesce(sum(d.completed - o.created) FILTER (WHERE d.order_id IS NOT NULL), 0),
        count(DISTINCT o.customer), count(DISTINCT o.customer) FILTER (WHERE f.first = o.created)
      FROM orders o LEFT JOIN done d USING (tenant, order_id) LEFT JOIN cancelled c USING (tenant, order_id)
      LEFT JOIN first_order f ON f.tenant = o.tenant AND f.customer = o.customer
      WHERE o.tenant = ? AND o.created >= ? AND o.created < ?""", [tenant, lo, hi]).fetchone()
    return [int(x) for x in r]


def ratio(n, d):
    return None if d == 0 else n / d


def half_even(n, d):
    q, r = divmod(n, d)
    return q + 1 if 2 * r > d or (2 * r == d and q % 2 == 1) else q


def iso(dt):
    return dt.isoformat(timespec="milliseconds")


def ms(dt):
    return int(dt.timestamp() * 1000)


out = []
for q in queries:
    tenant, a, b, g = q.split(",")
    zone = ZoneInfo(zones.get(tenant, "Africa/Johannesburg"))

    def local(text):
        fmt = "%Y-%m-%dT%H" if "T" in text else "%Y-%m-%d"
        return datetime.strptime(text, fmt).replace(tzinfo=zone)

    start, end = local(a), local(b)
    step = timedelta(hours=1) if g == "hour" else timedelta(days=1)
    buckets = []
    t = start
    while t < end:
        buckets.append(t)
        # Wall-clock stepping in the zone, normalised through UTC (DST-safe for days).
        t = (t.replace(tzinfo=None) + step).replace(tzinfo=zone)
    n = len(buckets)
    prev = (start.replace(tzinfo=None) - step * n).replace(tzinfo=zone)
    lo, hi, plo = ms(start), ms(end), ms(prev)
    cur, before = sales(tenant, lo, hi), sales(tenant, plo, lo)
    orders, gross, net, items, completed, cancelled, fulfil, uniq, new = cur
    series = []
    for bs in buckets:
        be = (bs.replace(tzinfo=None) + step).replace(tzinfo=zone)
        c, s = con.execute("SELECT count(*), coalesce(sum(total), 0) FROM orders WHERE tenant = ? AND created >= ? AND created < ?",
                           [tenant, ms(bs), ms(be)]).fetchone()
        series.append({"bucket_start": iso(bs), "orders": int(c), "gross_revenue_cents": int(s)})
    products = con.execute("""
      SELECT json_extract_string(i, '$.product_id') AS p,
        arg_max(json_extract_string(i, '$.name'), (created, event_id)) FILTER (WHERE json_extract_string(i, '$.name') IS NOT NULL),
        count(DISTINCT order_id), sum(CAST(json_extract_string(i, '$.quantity') AS BIGINT)),
        sum(CAST(json_extract_string(i, '$.quantity') AS BIGINT) * round(CAST(json_extract_string(i, '$.unit_price') AS DECIMAL(18,2)) * 100)::BIGINT) AS rev
      FROM items WHERE tenant = ? AND created >= ? AND created < ?
      GROUP BY p ORDER BY rev DESC, p LIMIT 10""", [tenant, lo, hi]).fetchall()
    payments = con.execute("""
      SELECT coalesce(i.gw, 'unknown') AS gw, coalesce(i.m, 'unknown') AS m,
        count(*) FILTER (WHERE e.type = 'payment.initiated'), count(*) FILTER (WHERE e.type = 'payment.succeeded'),
        count(*) FILTER (WHERE e.type = 'payment.failed'),
        coalesce(sum(round(CAST(json_extract_string(e.data, '$.amount') AS DECIMAL(18,2)) * 100)::BIGINT) FILTER (WHERE e.type = 'payment.succeeded'), 0)
      FROM ev e LEFT JOIN init i ON i.tenant = e.tenant AND i.pid = json_extract_string(e.data, '$.payment_id')
      WHERE e.tenant = ? AND e.ms >= ? AND e.ms < ? AND e.type IN ('payment.initiated', 'payment.succeeded', 'payment.failed')
      GROUP BY ALL ORDER BY gw, m""", [tenant, lo, hi]).fetchall()
    dcount, dms = con.execute("""
      SELECT count(*), coalesce(sum(e.ms - a.at), 0) FROM ev e
      LEFT JOIN assigned a ON a.tenant = e.tenant AND a.d = json_extract_string(e.data, '$.delivery_id')
      WHERE e.tenant = ? AND e.type = 'delivery.completed' AND e.ms >= ? AND e.ms < ?""", [tenant, lo, hi]).fetchone()
    messages = con.execute("""
      SELECT json_extract_string(data, '$.type') AS t, count(*) FROM ev
      WHERE tenant = ? AND type = 'whatsapp.message.received' AND ms >= ? AND ms < ? GROUP BY t ORDER BY t""", [tenant, lo, hi]).fetchall()
    expected = {
        "tenant_id": tenant, "from": iso(start), "to": iso(end), "granularity": g,
        "sales": {
            "orders": orders, "gross_revenue_cents": gross, "net_revenue_cents": net,
            "avg_order_value_cents": None if orders == 0 else half_even(gross, orders),
            "unique_customers": uniq, "new_customers": new, "items_sold": items,
            "completed_orders": completed, "cancelled_orders": cancelled,
            "completion_rate": ratio(completed, orders),
            "avg_fulfillment_seconds": None if completed == 0 else fulfil / 1000 / completed,
            "growth": {"orders": None if before[0] == 0 else (orders - before[0]) / before[0],
                       "revenue": None if before[1] == 0 else (gross - before[1]) / before[1],
                       "customers": None if before[7] == 0 else (uniq - before[7]) / before[7]},
        },
        "time_series": series,
        "top_products": [{"product_id": p, "name": nm, "orders": int(o), "quantity": int(qn), "revenue_cents": int(r)}
                         for p, nm, o, qn, r in products],
        "payments": [{"gateway": gw, "method": m, "initiated": int(a1), "succeeded": int(s1), "failed": int(f1),
                      "success_rate": ratio(int(s1), int(s1) + int(f1)), "succeeded_amount_cents": int(amt)}
                     for gw, m, a1, s1, f1, amt in payments],
        "deliveries": {"completed": int(dcount), "avg_delivery_seconds": None if dcount == 0 else int(dms) / 1000 / int(dcount)},
        "messages": {t: int(c) for t, c in messages},
    }
    out.append({"tenant": tenant, "from": iso(start), "to": iso(end), "granularity": g, "expected": expected})
print(json.dumps(out))

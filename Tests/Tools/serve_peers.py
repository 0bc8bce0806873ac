#!/usr/bin/env python3
"""The dashboard's question answered by DuckDB and by ClickHouse (chdb) over the pipeline's
Parquet files (order_facts, order_items), for `wakala bench serve`.

usage: serve_peers.py PARQUET_ROOT TENANT ZONE RANGES_FILE [--engines duckdb,chdb]
RANGES_FILE: one "FROM TO" pair of RFC 3339 times per line (day-aligned in ZONE).

The question, per range: orders, gross revenue, items sold, unique customers, new customers
(first order ever inside the range), the daily time series (orders, revenue) and the top 10
products by revenue (distinct orders, quantity, revenue). Prints one JSON object:
{"engine": {"median_ms", "p99_ms", "answers": [...]}}; each answer is
[orders, gross, items, unique, new, [[day, orders, revenue]...], [[product, orders, qty, revenue]...]]
so the bench can check that all engines agree with wakala's API."""
import json
import statistics
import sys
import time
from datetime import datetime

root, tenant, zone, ranges_file = sys.argv[1:5]
engines = ["duckdb", "chdb"]
if "--engines" in sys.argv:
    engines = sys.argv[sys.argv.index("--engines") + 1].split(",")
ranges = [line.split() for line in open(ranges_file) if line.strip()]
facts = f"{root}/order_facts/*/*.parquet"
items = f"{root}/order_items/*/*.parquet"


def ms(text):
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def duckdb_engine():
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads = 2")

    def ask(lo, hi):
        lo_ts, hi_ts = f"epoch_ms({lo})", f"epoch_ms({hi})"
        where = f"tenant_id = '{tenant}' AND created_at >= {lo_ts} AND created_at < {hi_ts}"
        s = con.execute(f"SELECT count(*), coalesce(sum(total_cents), 0), coalesce(sum(item_quantity), 0), count(DISTINCT customer_id) "
                        f"FROM read_parquet('{facts}') WHERE {where}").fetchone()
        new = con.execute(f"SELECT count(*) FROM (SELECT customer_id, min(created_at) AS first FROM read_parquet('{facts}') "
                          f"WHERE tenant_id = '{tenant}' GROUP BY customer_id) WHERE first >= {lo_ts} AND first < {hi_ts}").fetchone()[0]
        series = con.execute(f"SELECT strftime(date_trunc('day', timezone('{zone}', created_at)), '%Y-%m-%d') AS d, count(*), sum(total_cents) "
                             f"FROM read_parquet('{facts}') WHERE {where} GROUP BY d ORDER BY d").fetchall()
        top = con.execute(f"SELECT product_id, count(DISTINCT order_id), sum(quantity), sum(line_total_cents) AS rev "
                          f"FROM read_parquet('{items}') WHERE {where} GROUP BY product_id ORDER BY rev DESC, product_id LIMIT 10").fetchall()
        return [int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(new), [[d, int(c), int(r)] for d, c, r in series],
                [[p, int(o), int(q), int(r)] for p, o, q, r in top]]
    return ask


def chdb_engine():
    from chdb import session
    sess = session.Session()

    def q(sql):
        return [line.split("\t") for line in str(sess.query(sql, "TabSeparated")).splitlines() if line]

    def ask(lo, hi):
        lo_ts, hi_ts = f"fromUnixTimestamp64Milli({lo})", f"fromUnixTimestamp64Milli({hi})"
        where = f"tenant_id = '{tenant}' AND created_at >= {lo_ts} AND created_at < {hi_ts}"
        s = q(f"SELECT count(), sum(total_cents), sum(item_quantity), uniqExact(customer_id) FROM file('{facts}', Parquet) WHERE {where}")[0]
        new = q(f"SELECT count() FROM (SELECT customer_id, min(created_at) AS first FROM file('{facts}', Parquet) "
                f"WHERE tenant_id = '{tenant}' GROUP BY customer_id) WHERE first >= {lo_ts} AND first < {hi_ts}")[0][0]
        series = q(f"SELECT formatDateTime(toStartOfDay(toTimeZone(created_at, '{zone}')), '%Y-%m-%d') AS d, count(), sum(total_cents) "
                   f"FROM file('{facts}', Parquet) WHERE {where} GROUP BY d ORDER BY d")
        top = q(f"SELECT product_id, uniqExact(order_id), sum(quantity), sum(line_total_cents) AS rev FROM file('{items}', Parquet) "
                f"WHERE {where} GROUP BY product_id ORDER BY rev DESC, product_id LIMIT 10")
        return [int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(new), [[d, int(c), int(r)] for d, c, r in series],
                [[p, int(o), int(qn), int(r)] for p, o, qn, r in top]]
    return ask


out = {}
for name in engines:
    ask = duckdb_engine() if name == "duckdb" else chdb_engine()
    ask(ms(ranges[0][0]), ms(ranges[0][1]))  # warm the file cache and the engine
    times, answers = [], []
    for a, b in ranges:
        t0 = time.perf_counter()
        answers.append(ask(ms(a), ms(b)))
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    out[name] = {"median_ms": statistics.median(times), "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
                 "queries": len(times), "answers": answers}
print(json.dumps(out))

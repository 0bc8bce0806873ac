#!/usr/bin/env python3
"""Peer for `wakala bench pipeline --flink`: Apache Flink (PyFlink, apache-flink from PyPI, Java 17)
computing the hourly rollup of order.created (count and sum per tenant and UTC hour) over an
NDJSON file with Flink SQL, parallelism 2 (the machine's cores). Prints the seconds the job took
(JVM start excluded) and the number of groups: `<seconds> <groups>`."""
import sys
import time

from pyflink.table import EnvironmentSettings, TableEnvironment

path, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "streaming")
settings = EnvironmentSettings.in_streaming_mode() if mode == "streaming" else EnvironmentSettings.in_batch_mode()
env = TableEnvironment.create(settings)
env.get_config().set("parallelism.default", "2")
env.execute_sql(f"""
CREATE TABLE ev (event_type STRING, tenant_id STRING, `timestamp` STRING, data ROW<total_amount STRING>)
WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json', 'json.ignore-parse-errors' = 'true')
""")
t0 = time.perf_counter()
result = env.execute_sql("""
SELECT tenant_id, SUBSTRING(`timestamp`, 1, 13) AS h, COUNT(*) AS n, SUM(CAST(data.total_amount AS DECIMAL(18, 2))) AS total
FROM ev WHERE event_type = 'order.created' GROUP BY tenant_id, SUBSTRING(`timestamp`, 1, 13)
""")
groups = set()
with result.collect() as rows:
    for r in rows:
        groups.add((r[0], r[1]))
print(time.perf_counter() - t0, len(groups))

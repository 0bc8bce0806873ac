#!/usr/bin/env python3
"""Peer for `wakala bench kafka --bytewax`: bytewax (PyPI) reading Kafka and computing the hourly
rollup of order.created — count and total cents per tenant and UTC hour, the rollup
flink_rollup.py computes in Flink SQL — then exiting at the end of the topics.

Brokers, topics and the output come from the environment (bytewax's runner takes an import
string):
  WAKALA_BENCH_BROKERS=host:port WAKALA_BENCH_TOPICS=orders[,payments...] WAKALA_BENCH_OUT=/tmp/x \
  python3 -m bytewax.testing bytewax_rollup:flow -p 2      (from scripts/bench)
Each worker writes its finished groups, one `tenant|hour count cents` line each, to
`$WAKALA_BENCH_OUT.<worker>` (one file per worker: processes sharing stdout interleave lines).

Partitions are assigned directly (bytewax's KafkaSource joins no group) from the beginning;
`tail=False` ends each partition at the end offset it had when read began.
"""
import json
import os

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSource
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition

brokers = os.environ.get("WAKALA_BENCH_BROKERS", "127.0.0.1:9092").split(",")
topics = os.environ.get("WAKALA_BENCH_TOPICS", "orders").split(",")
out = os.environ.get("WAKALA_BENCH_OUT", "rollup.out")


class _WorkerFile(StatelessSinkPartition):
    def __init__(self, path):
        self._f = open(path, "w")

    def write_batch(self, items):
        self._f.writelines(line + "\n" for line in items)

    def close(self):
        self._f.close()


class WorkerFiles(DynamicSink):
    """One file per worker."""

    def build(self, step_id, worker_index, worker_count):
        return _WorkerFile(f"{out}.{worker_index}")


def parse(msg):
    """`(tenant|hour, (1, cents))` for an order.created record; None for anything else."""
    try:
        e = json.loads(msg.value)
    except (ValueError, TypeError):
        return None  # a malformed record: the rollup skips it (ours dead-letters it)
    if not isinstance(e, dict) or e.get("event_type") != "order.created":
        return None
    try:
        cents = round(float(e["data"]["total_amount"]) * 100)
        return (f'{e["tenant_id"]}|{e["timestamp"][:13]}', (1, cents))
    except (KeyError, TypeError, ValueError):
        return None


flow = Dataflow("hourly_rollup")
records = op.input("kafka", flow, KafkaSource(brokers, topics, tail=False, batch_size=5000))
keyed = op.filter_map("order_created", records, parse)
totals = op.reduce_final("sum", keyed, lambda a, b: (a[0] + b[0], a[1] + b[1]))
lines = op.map("format", totals, lambda kv: f"{kv[0]} {kv[1][0]} {kv[1][1]}")
op.output("out", lines, WorkerFiles())

#!/usr/bin/env python3
"""Hostile records for a Kafka run (issue 27), with confluent-kafka (a client we did not write).

  kafka_hostile.py produce BOOTSTRAP
      Produces, each to a partition of its own, before anything else is there:
        - a 1.1 MB order.created (over the 1 MiB default max_record_bytes) to orders[1],
        - an order.created dated 9999-12-31T23:59:59Z to orders[2] (Kafka timestamp: now),
        - bytes that are not JSON to tenants[3].
      Prints [{"name", "topic", "partition", "offset", "bytes", "sha256", "cut_sha256"}] once all
      are acknowledged.

  kafka_hostile.py read BOOTSTRAP TOPIC
      Every read_committed record of TOPIC, as [{"partition", "offset", "bytes", "sha256",
      "headers": {name: value}, "text": value if under 4 KiB}].
"""
import hashlib
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def order(event_id, order_id, timestamp, padding=""):
    doc = {
        "event_id": event_id, "event_type": "order.created", "version": "1.0", "timestamp": timestamp,
        "tenant_id": "t-0001",
        "data": {"order_id": order_id, "customer_id": "c-hostile",
                 "items": [{"product_id": "p-1", "name": "Kota", "quantity": 1, "unit_price": "10.00"}],
                 "subtotal": "10.00", "delivery_fee": 0, "tax": 0, "discount": 0, "total_amount": "10.00",
                 "payment_method": "cash"},
    }
    if padding:
        doc["metadata"] = {"note": padding}
    return json.dumps(doc, separators=(",", ":")).encode()


def produce(bootstrap):
    records = [
        ("oversized", "orders", 1, order("hostile-big", "o-hostile-big", "2026-03-01T08:00:00Z", "x" * 1_100_000)),
        ("far_future", "orders", 2, order("hostile-future", "o-hostile-future", "9999-12-31T23:59:59Z")),
        ("garbage", "tenants", 3, b"\x00\x01 not json {{{"),
    ]
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 4_000_000, "acks": "all"})
    out, errors = [], []

    for name, topic, partition, value in records:
        def report(err, msg, name=name, topic=topic, partition=partition, value=value):
            if err is not None:
                errors.append(f"{name}: {err}")
                return
            out.append({"name": name, "topic": topic, "partition": msg.partition(), "offset": msg.offset(),
                        "bytes": len(value), "sha256": hashlib.sha256(value).hexdigest(),
                        # what a dead letter cut to 983,616 bytes (1,000,000 - 16 KiB) holds
                        "cut_sha256": hashlib.sha256(value[:983_616]).hexdigest()})
        p.produce(topic, value=value, key=b"t-0001", partition=partition, on_delivery=report)
    p.flush(60)
    if errors or len(out) != len(records):
        print(json.dumps({"errors": errors}))
        sys.exit(1)
    print(json.dumps(out))


def read(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"hostile-reader-{time.time()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "enable.partition.eof": True, "fetch.message.max.bytes": 4_000_000})
    md = c.list_topics(topic, timeout=30).topics[topic]
    parts = [TopicPartition(topic, p, 0) for p in md.partitions]
    c.assign(parts)
    ended, out = set(), []
    deadline = time.time() + 60
    while len(ended) < len(parts) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                ended.add(m.partition())
            continue
        v = m.value() or b""
        rec = {"partition": m.partition(), "offset": m.offset(), "bytes": len(v), "sha256": hashlib.sha256(v).hexdigest(),
               "headers": {k: (h or b"").decode("utf-8", "replace") for k, h in (m.headers() or [])}}
        if len(v) < 4096:
            rec["text"] = v.decode("utf-8", "replace")
        out.append(rec)
    c.close()
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3])

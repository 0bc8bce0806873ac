#!/usr/bin/env python3
"""Produces an NDJSON[.zst] event stream to Kafka with confluent-kafka (a client we did not write),
the way the contract's producers do (CONTRACT §1): one topic per event family, keyed by
tenant_id (driver-locations by data.driver_id), murmur2 partitioning as the Java client does.
Records that are not JSON objects with a known event_type go to `orders` unkeyed (the pipeline
must dead-letter them). Prints {"produced": n, "by_topic": {...}} when every record is
acknowledged; exit 1 if any failed.

usage: kafka_produce.py BOOTSTRAP FILE [--pace-every N --pause-ms M] [--partitioner SPEC] [--keyless TOPICS]
  SPEC: a librdkafka partitioner for every topic (default murmur2_random, Java's), e.g.
  consistent_random (librdkafka's own default), or per topic: orders=murmur2_random,default=consistent_random
  TOPICS: comma-separated topics whose records go without a key (librdkafka spreads them at random)
"""
import json
import sys
import time

from confluent_kafka import Producer

TOPICS = {
    "tenant.created": "tenants", "tenant.tier_changed": "tenants",
    "whatsapp.message.received": "whatsapp.inbound",
    "order.created": "orders", "order.confirmed": "orders", "order.processing_started": "orders",
    "order.ready_for_pickup": "orders", "order.picked_up": "orders", "order.completed": "orders",
    "order.cancelled": "orders", "inventory.updated": "orders",
    "payment.initiated": "payments", "payment.succeeded": "payments", "payment.failed": "payments",
    "payment.refunded": "payments",
    "delivery.assigned": "deliveries", "delivery.picked_up": "deliveries", "delivery.completed": "deliveries",
    "delivery.cancelled": "deliveries",
    "driver.location_updated": "driver-locations",
    "usage.recorded": "usage", "notification.sent": "usage",
}


def lines(path):
    if path.endswith(".zst"):
        import subprocess
        out = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
        yield from out.split(b"\n")
    else:
        with open(path, "rb") as f:
            for line in f:
                yield line.rstrip(b"\n")


def route(raw):
    try:
        doc = json.loads(raw)
    except Exception:
        return "orders", None
    if not isinstance(doc, dict):
        return "orders", None
    topic = TOPICS.get(doc.get("event_type"))
    if topic is None:
        return "orders", None
    if topic == "driver-locations":
        data = doc.get("data")
        key = data.get("driver_id") if isinstance(data, dict) else None
    else:
        key = doc.get("tenant_id")
    return topic, key if isinstance(key, str) else None


def main():
    bootstrap, path = sys.argv[1], sys.argv[2]
    pace_every = int(sys.argv[sys.argv.index("--pace-every") + 1]) if "--pace-every" in sys.argv else 0
    pause_ms = int(sys.argv[sys.argv.index("--pause-ms") + 1]) if "--pause-ms" in sys.argv else 0
    spec = sys.argv[sys.argv.index("--partitioner") + 1] if "--partitioner" in sys.argv else "murmur2_random"
    per_topic = dict(kv.split("=", 1) for kv in spec.split(",")) if "=" in spec else {"default": spec}
    keyless = set(sys.argv[sys.argv.index("--keyless") + 1].split(",")) if "--keyless" in sys.argv else set()
    producers = {}

    def producer(topic):
        name = per_topic.get(topic, per_topic.get("default", "murmur2_random"))
        if name not in producers:
            producers[name] = Producer({"bootstrap.servers": bootstrap, "partitioner": name, "enable.idempotence": True,
                                        "acks": "all", "linger.ms": 5, "queue.buffering.max.messages": 500000})
        return producers[name]
    failed = []
    by_topic = {}

    def done(err, msg):
        if err is not None:
            failed.append(str(err))

    n = 0
    for raw in lines(path):
        if not raw:
            continue
        topic, key = route(raw)
        if topic in keyless:
            key = None
        p = producer(topic)
        while True:
            try:
                p.produce(topic, value=raw, key=key, on_delivery=done)
                break
            except BufferError:
                p.poll(0.05)
        by_topic[topic] = by_topic.get(topic, 0) + 1
        n += 1
        if pace_every and n % pace_every == 0:
            for q in producers.values():
                q.flush(30)
            time.sleep(pause_ms / 1000)
        p.poll(0)
    left = sum(q.flush(60) for q in producers.values())
    if failed or left:
        print(json.dumps({"produced": n, "failed": len(failed), "unflushed": left, "first_error": failed[:1]}))
        sys.exit(1)
    print(json.dumps({"produced": n, "by_topic": by_topic}))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The Python consumer of the catch-up part of `make bench` (docs/benchmarks.md).

What a short script would do with the same topic: a confluent-kafka group
consumer that parses each JSON event, keeps per-customer counters (events,
orders, revenue), pipelines one HSET per touched customer every 1,000 events
into Redis, and exits once every assigned partition is at its end.

    /usr/bin/python3 bench/py_consumer.py --brokers B --topic T --group G \
        --redis-port P [--redis-host H] [--prefix py:customer:] [--expect N]

Needs Debian's python3-confluent-kafka and python3-redis (scripts/deps.sh bench);
run it with /usr/bin/python3. Prints "RESULT name value" lines for bench/run.sh.
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError
import redis

FLUSH_EVERY = 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--redis-host", default="127.0.0.1")
    ap.add_argument("--redis-port", type=int, default=6379)
    ap.add_argument("--prefix", default="py:customer:")
    ap.add_argument("--expect", type=int, default=-1)
    args = ap.parse_args()

    t0 = time.monotonic()
    r = redis.Redis(host=args.redis_host, port=args.redis_port)
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    assigned, at_eof = set(), set()

    def on_assign(c, parts):
        assigned.clear()
        assigned.update((p.topic, p.partition) for p in parts)
        at_eof.clear()

    consumer.subscribe([args.topic], on_assign=on_assign)
    customers = {}  # customer_id -> [events, orders, revenue]
    touched = set()
    messages = since_flush = writes = 0
    first = None

    def flush():
        nonlocal since_flush, writes
        pipe = r.pipeline(transaction=False)
        for cid in touched:
            ev, orders, revenue = customers[cid]
            pipe.hset(args.prefix + cid, mapping={
                "events": ev, "orders": orders, "revenue": round(revenue, 2)})
        pipe.execute()
        writes += len(touched)
        touched.clear()
        since_flush = 0

    while not (assigned and at_eof >= assigned):
        for msg in consumer.consume(num_messages=1000, timeout=0.1):
            tp = (msg.topic(), msg.partition())
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(tp)
                    continue
                sys.exit("py_consumer: %s" % err)
            at_eof.discard(tp)
            if first is None:
                first = time.monotonic()
            messages += 1
            ev = json.loads(msg.value())
            cid = ev.get("customer_id")
            if cid is not None and ev.get("type") != "marketing_spend":
                c = customers.get(cid)
                if c is None:
                    c = customers[cid] = [0, 0, 0.0]
                c[0] += 1
                if ev["type"] == "purchase":
                    c[1] += 1
                    c[2] += ev["amount"]
                elif ev["type"] == "refund":
                    c[2] -= ev["amount"]
                touched.add(cid)
            since_flush += 1
            if since_flush >= FLUSH_EVERY:
                flush()
    flush()
    consumer.close()
    t1 = time.monotonic()
    read_s = t1 - first if first else 0.0
    print("python consumer: %d messages, %d customers, %d HSETs; subscribe to first message "
          "%.3f s, first message to exit %.3f s (%.0f messages/s)" % (
              messages, len(customers), writes, (first or t1) - t0, read_s,
              messages / read_s if read_s > 0 else 0.0))
    print("RESULT py_messages %d\nRESULT py_customers %d\nRESULT py_hsets %d" % (
        messages, len(customers), writes))
    if args.expect >= 0 and messages != args.expect:
        print("python consumer: MISMATCH: %d messages, expected %d" % (messages, args.expect))
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Processor throughput and model quality, from a backlog on a local broker (issue 7, SPEC §10).

Run: ``.venv/bin/python bench/bench_process.py [--events 100000] [--seed 42]``. Starts a local broker
(`synfinance.stack`), puts a seeded default-settings stream on it the way the producer does (customers,
then transactions with each label once the stream's clock reaches its label time), then measures in the
same run:

1. Faust's plain iteration rate: one Faust worker, an agent iterating the transactions topic as raw
   bytes and doing nothing else (the ceiling of any per-event Faust agent);
2. `synfinance process` with one worker: features, River scoring, delayed learning, state, outputs, all
   in Kafka transactions; events/s from its first to its last scored record;
3. the prequential ROC-AUC / PR-AUC of the scores it emitted (each given before its label), exact.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_learnability import average_precision, roc_auc
from synfinance.common.settings import TopicNames
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode, encode

PARTITIONS = 6


def faust_iterate(bootstrap: str, topic: str, events: int) -> None:
    """Child process: a Faust worker whose agent only counts raw values; prints events/s."""
    import faust

    app = faust.App(f"bench-iterate-{uuid.uuid4().hex[:6]}", broker=f"kafka://{bootstrap}", web_enabled=False,
                    topic_partitions=PARTITIONS, consumer_auto_offset_reset="earliest",
                    datadir=tempfile.mkdtemp(prefix="bench-iterate-"))  # not `<app id>-data` in the cwd
    source = app.topic(topic, value_serializer="raw", key_serializer="raw")
    seen = {"n": 0, "first": 0.0}

    @app.agent(source)
    async def count(stream):  # type: ignore[no-untyped-def]
        async for _value in stream:
            seen["n"] += 1
            if seen["n"] == 1:
                seen["first"] = time.perf_counter()
            elif seen["n"] == events:
                print(f"FAUST_RATE {(events - 1) / (time.perf_counter() - seen['first']):.1f}", flush=True)
                os.kill(os.getpid(), signal.SIGTERM)

    faust.Worker(app, loglevel=os.environ.get("BENCH_FAUST_LOG", "warning"), quiet=True).execute_from_commandline()


def publish(bootstrap: str, topics: TopicNames, events: int, seed: int) -> tuple[list[dict], dict[str, bool]]:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    kept, compacted = {"retention.ms": "-1"}, {"cleanup.policy": "compact"}
    futures = admin.create_topics([NewTopic(name, PARTITIONS, 1, config=compacted if field == "customers" else kept)
                                   for field, name in topics.model_dump().items()])
    for future in futures.values():
        future.result(30)
    stream = TransactionStream(StreamConfig(seed=seed))
    batch = next(stream.batches(events))
    encoder = RecordEncoder(stream.world)
    txn_values, label_values = encoder.encode_transactions(batch), encoder.encode_labels(batch)
    labels = [decode(v) for v in label_values]
    txn_times = batch.time_us.tolist()
    keys = [stream.world.customers.ids[k].encode() for k in batch.customer.tolist()]
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 20,
                         "enable.idempotence": True,
                         # no lz4: aiokafka (Faust) reads lz4 only with the python lz4 package, absent here
                         "compression.type": "none"})
    def produce(topic: str, value: bytes, key: bytes, **kwargs: int) -> None:
        while True:
            try:
                return producer.produce(topic, value, key, **kwargs)
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)

    customers = stream.world.customers
    for k in range(len(customers)):
        produce(topics.customers, encode("customer", customers.record(k, stream.config.start_us)),
                         customers.ids[k].encode())
    producer.flush(60)
    order = sorted(range(len(labels)), key=lambda i: (labels[i]["label_time"], i))
    nxt = 0
    for i, value in enumerate(txn_values):
        produce(topics.transactions, value, keys[i], timestamp=txn_times[i] // 1000)
        while nxt < len(order) and labels[order[nxt]]["label_time"] <= txn_times[i]:
            j = order[nxt]
            produce(topics.labels, label_values[j], keys[j], timestamp=labels[j]["label_time"] // 1000)
            nxt += 1
        if i % 1000 == 0:
            producer.poll(0)
    for j in order[nxt:]:
        produce(topics.labels, label_values[j], keys[j], timestamp=labels[j]["label_time"] // 1000)
    producer.flush(120)
    return labels, {label["transaction_id"]: label["is_fraud"] for label in labels}


def read_scored(bootstrap: str, topic: str) -> list[dict]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out, eof = [], set()
    while len(eof) < PARTITIONS:
        for m in consumer.consume(10_000, timeout=1.0):
            if m.error() is None:
                out.append(decode(m.value()))
            elif m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
    consumer.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--learn-negatives", type=float, default=None,
                        help="passed to synfinance process (default: its own default)")
    parser.add_argument("--skip-faust", action="store_true", help="do not measure Faust's plain iteration")
    parser.add_argument("--faust-iterate", nargs=2, metavar=("BOOTSTRAP", "TOPIC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.faust_iterate:
        faust_iterate(*args.faust_iterate, args.events)
        return
    from synfinance.stack.launcher import LocalStack

    stack = LocalStack(Path(tempfile.mkdtemp(prefix="bench-process-")))
    try:
        bootstrap = str(stack.up(with_postgres=False).kafka.bootstrap)
        run = uuid.uuid4().hex[:6]
        topics = TopicNames(**{name: f"bench-{run}.{name}" for name in TopicNames.model_fields})
        started = time.perf_counter()
        _, is_fraud = publish(bootstrap, topics, args.events, args.seed)
        print(f"published {args.events:,} transactions + labels in {time.perf_counter() - started:.0f} s")

        faust_rate = float("nan")
        if not args.skip_faust:
            child = subprocess.run([sys.executable, __file__, "--events", str(args.events), "--faust-iterate",
                                    bootstrap, topics.transactions], capture_output=True, text=True, timeout=1800)
            # Faust's worker redirects stdout into its logger (WARNING, stderr): look in both
            rates = re.findall(r"FAUST_RATE ([0-9.]+)", child.stdout + child.stderr)
            faust_rate = float(rates[0]) if rates else float("nan")
            print(f"Faust plain iteration (raw values, no work): {faust_rate:,.0f} events/s")

        env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": bootstrap,
               **{f"SYNFIN_TOPICS__{f.upper()}": n for f, n in topics.model_dump().items()}}
        extra = [] if args.learn_negatives is None else ["--learn-negatives", str(args.learn_negatives)]
        subprocess.run([sys.executable, "-m", "synfinance.cli", "process", "--no-web", "--group", f"bench-{run}",
                        "--stop-when-idle", "8", *extra], env=env, check=True, timeout=3600)
        scored = read_scored(bootstrap, topics.scored)
        times = np.array([s["processed_at"] for s in scored]) / 1e6
        rate = (len(scored) - 1) / (times.max() - times.min())
        print(f"synfinance process, 1 worker (features + scoring + learning + state + EOS outputs): "
              f"{len(scored):,} scored at {rate:,.0f} events/s"
              + ("" if np.isnan(faust_rate) else f" = {rate / faust_rate:.2f}x Faust plain iteration"))
        learned = max(int(s["model_version"].rsplit("/", 1)[1]) for s in scored)
        print(f"labels learned by the end: {learned:,}")
        y = np.array([is_fraud[s["transaction_id"]] for s in scored], dtype=np.int64)
        scores = np.array([s["score"] for s in scored])
        warm = slice(len(y) // 4, None)
        print(f"prequential ROC-AUC {roc_auc(y, scores):.4f}, PR-AUC {average_precision(y, scores):.4f} "
              f"(fraud rate {y.mean():.4f}); last 75%: ROC-AUC {roc_auc(y[warm], scores[warm]):.4f}, "
              f"PR-AUC {average_precision(y[warm], scores[warm]):.4f}")
    finally:
        stack.down()


if __name__ == "__main__":
    main()

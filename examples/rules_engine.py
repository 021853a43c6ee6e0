"""A rules-only fraud engine in ~50 lines: the decision protocol `synfinance evaluate` scores.

Subscribes to the transactions topic, scores each payment with three rules on the customer's recent history,
and publishes a JSON decision keyed by customer_id. Run it, then score it:
    synfinance stack kafka-tool topics --create --topic my.decisions --partitions 6   # no auto-creation
    eval "$(synfinance stack env)"; python examples/rules_engine.py my.decisions --until-idle 10
    synfinance evaluate --decisions my.decisions --until-lag-zero --report rules.html
"""

import argparse
import json
import os
import time
from collections import defaultdict, deque

from confluent_kafka import Consumer, Producer

from synfinance.common.units import HOUR_US
from synfinance.schemas.codec import decode

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("decisions", help="topic to publish decisions to")
parser.add_argument("--until-idle", type=float, default=None, help="stop this many seconds after the last input")
args = parser.parse_args()
kafka = {"bootstrap.servers": os.environ.get("SYNFIN_BOOTSTRAP_SERVERS", "127.0.0.1:9092")}
consumer = Consumer({**kafka, "group.id": f"rules-engine-{args.decisions}", "auto.offset.reset": "earliest"})
consumer.subscribe([os.environ.get("SYNFIN_TOPICS__TRANSACTIONS", "synfin.transactions.v1")])
producer = Producer({**kafka, "linger.ms": 20})
recent: dict[str, deque] = defaultdict(lambda: deque(maxlen=20))  # customer -> (event_time, device, amount)
last_input = None  # idleness counts from the first transaction: a stream may take a while to start
while args.until_idle is None or last_input is None or time.monotonic() - last_input < args.until_idle:
    for message in consumer.consume(1000, timeout=0.5):
        if message.error() is not None:
            continue
        received, t = time.time(), decode(message.value())
        last_input, history = time.monotonic(), recent[t["customer_id"]]
        hour = [h for h in history if t["event_time"] - h[0] < HOUR_US]
        known_device = any(h[1] == t["device_id"] for h in history) or not history
        score = min(1.0, 0.4 * (len(hour) >= 4)  # a burst of payments within the hour
                    + 0.4 * (not known_device and t["amount_paise"] > 1_000_000)  # new device, over ₹10,000
                    + 0.3 * (t["amount_paise"] > 5 * max((h[2] for h in history), default=10**9)))  # 5x the usual
        history.append((t["event_time"], t["device_id"], t["amount_paise"]))
        verdict = "decline" if score >= 0.7 else "review" if score >= 0.4 else "approve"
        decided_at = t["event_time"] + int((time.time() - received) * 1e6)  # on the transaction's clock
        producer.produce(args.decisions, json.dumps({"transaction_id": t["transaction_id"], "score": score,
                                                     "decision": verdict, "decided_at": decided_at}),
                         message.key())
    producer.poll(0)
producer.flush(30)
consumer.close()

"""`synfinance evaluate` on a real broker: known decision streams give exactly the per-type recall and precision
computed here from the ground truth, and missing / unknown / duplicate / undecodable decisions are counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.common.settings import load_settings
from synfinance.schemas.codec import encode
from synfinance.seeded_stream import SeededStream, StreamFactory

EVENTS = 10_000
UNKNOWN, MISSING = 7, 50


def _stream(synfin_stream: StreamFactory) -> SeededStream:
    return synfin_stream(seed=7, events=EVENTS)


def _publish(stream: SeededStream, records: list[tuple[str, bytes]]) -> str:
    topic = f"{stream.topics.transactions}.decisions-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stream.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "-1"})]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": stream.bootstrap, "enable.idempotence": True})
    for key, value in records:
        producer.produce(topic, value, key.encode())
    assert producer.flush(30) == 0
    return topic


def _expected(stream: SeededStream, declined: set[str]) -> dict[str, tuple[float | None, float | None]]:
    """(recall, precision) at decline per fraud type and overall, from the final labels alone."""
    labels = stream.labels.values()
    legit_declined = sum(1 for label in labels if not label["is_fraud"] and label["transaction_id"] in declined)
    out: dict[str, tuple[float | None, float | None]] = {}
    types = Counter(label["fraud_type"] for label in labels if label["is_fraud"])
    for fraud_type, count in types.items():
        tp = sum(1 for label in labels if label["fraud_type"] == fraud_type and label["transaction_id"] in declined)
        out[fraud_type] = (tp / count, tp / (tp + legit_declined) if tp + legit_declined else None)
    tp = sum(1 for label in labels if label["is_fraud"] and label["transaction_id"] in declined)
    out["all"] = (tp / sum(types.values()), tp / (tp + legit_declined) if tp + legit_declined else None)
    return out


def _measured(board: dict[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    slices = {**board["fraud_types"], "all": board["overall"]}
    return {name: (s["at_decline"]["recall"], s["at_decline"]["precision"]) for name, s in slices.items()}


@pytest.mark.integration
def test_declining_exactly_one_fraud_type(synfin_stream: StreamFactory, tmp_path: Path) -> None:
    stream = _stream(synfin_stream)
    types = Counter(label["fraud_type"] for label in stream.labels.values() if label["is_fraud"])
    target = types.most_common(1)[0][0]
    legit = sorted(tid for tid, label in stream.labels.items() if not label["is_fraud"])
    missing = set(legit[:MISSING])  # no decision at all: counted as approved
    records: list[tuple[str, bytes]] = []
    declined = set()
    for tid, label in sorted(stream.labels.items()):
        if tid in missing:
            continue
        verdict = "decline" if label["fraud_type"] == target else "approve"
        declined |= {tid} if verdict == "decline" else set()
        records.append((label["customer_id"], json.dumps({"transaction_id": tid, "decision": verdict}).encode()))
    records += [("C-none", json.dumps({"transaction_id": f"T-unknown-{k}", "decision": "decline"}).encode())
                for k in range(UNKNOWN)]
    first = stream.labels[legit[-1]]
    records += [(first["customer_id"], json.dumps({"transaction_id": legit[-1], "decision": "decline"}).encode()),
                ("C-none", b"not a decision")]  # a later duplicate (ignored: the first decision stands), junk
    topic = _publish(stream, records)
    out = tmp_path / "board.json"
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "evaluate", "--decisions", topic,
                          "--until-lag-zero", "--json", str(out)], env={**os.environ, **stream.env()},
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    board = json.loads(out.read_text())
    assert _measured(board) == _expected(stream, declined)
    assert board["fraud_types"][target]["at_decline"]["recall"] == 1.0
    assert board["fraud_types"][target]["at_decline"]["precision"] == 1.0
    assert all(s["at_decline"]["recall"] == 0.0 for name, s in board["fraud_types"].items() if name != target)
    counts = board["counts"]
    assert (counts["transactions"], counts["labelled"], counts["unlabelled"]) == (EVENTS, EVENTS, 0)
    assert (counts["decisions"], counts["decided"], counts["missing_decisions"]) == (
        EVENTS - MISSING + UNKNOWN + 1, EVENTS - MISSING, MISSING)
    assert (counts["unknown_decisions"], counts["duplicate_decisions"], counts["undecodable_decisions"]) == (
        UNKNOWN, 1, 1)
    assert board["overall"]["at_decline"]["fp"] == 0
    assert board["overall"]["roc_auc"] is None  # decisions only: no score to rank by
    assert f"{EVENTS:,} transactions" in run.stdout and f"{UNKNOWN:,} for unknown transactions" in run.stdout


@pytest.mark.integration
def test_declining_a_seeded_random_one_percent(synfin_stream: StreamFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from synfinance.commands.evaluate import run_evaluation

    stream = _stream(synfin_stream)
    ids = sorted(stream.labels)
    rng = np.random.default_rng(2024)
    declined = set(np.asarray(ids)[rng.random(len(ids)) < 0.01].tolist())
    scores = rng.random(len(ids))
    records = [(stream.labels[tid]["customer_id"],
                encode("decision", {"transaction_id": tid, "score": float(s),
                                    "decision": "decline" if tid in declined else "approve", "decided_at": None}))
               for tid, s in zip(ids, scores, strict=True)]
    topic = _publish(stream, records)
    for name, value in stream.env().items():
        monkeypatch.setenv(name, value)
    board = run_evaluation(load_settings(), [topic], until_lag_zero=True).as_json()
    assert _measured(board) == _expected(stream, declined)
    assert 50 < len(declined) < 150
    assert board["counts"]["missing_decisions"] == board["counts"]["unknown_decisions"] == 0
    truth = np.array([stream.labels[tid]["is_fraud"] for tid in ids])
    positives, negatives = scores[truth], scores[~truth]  # Mann-Whitney, computed independently
    auc = ((positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
           ) / (len(positives) * len(negatives))
    assert board["overall"]["roc_auc"] == pytest.approx(auc, abs=1e-12)


@pytest.mark.parametrize(("args", "message"), [
    (["--threshold", "1.5"], "--threshold 1.5: expected a score in [0, 1]"),
    (["--report", "/nonexistent/dir/r.html"], "--report /nonexistent/dir/r.html: the directory /nonexistent/dir"),
    (["--interval", "0"], "--interval 0.0: expected seconds > 0"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from synfinance.cli import main

    assert main(["evaluate", "--decisions", "d", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


@pytest.mark.integration
def test_a_missing_decisions_topic_is_one_line_and_exit_2(synfin_stream: StreamFactory) -> None:
    stream = _stream(synfin_stream)
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "evaluate", "--decisions", "no.such.topic",
                          "--until-lag-zero"], env={**os.environ, **stream.env()}, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "topic 'no.such.topic' (decisions) does not exist" in run.stderr


def test_an_unreachable_broker_is_one_error_line_and_exit_2() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYNFIN_")}
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "evaluate", "--decisions", "d", "--until-lag-zero"],
                         env={**env, "SYNFIN_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, capture_output=True, text=True,
                         timeout=120, check=False)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) <= 4, run.stderr
    assert lines[-1].startswith("synfinance: error: Kafka broker at 127.0.0.1:1 is unreachable")
    assert run.stdout == ""


@pytest.mark.integration
def test_the_example_rules_engine_is_scored(synfin_stream: StreamFactory, tmp_path: Path) -> None:
    """examples/rules_engine.py decides every transaction; the evaluator joins all of them and its recall is the
    share of frauds the engine's own decisions (read back here) declined."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    stream = _stream(synfin_stream)
    topic = _publish(stream, [])
    env = {**os.environ, **stream.env()}
    engine = subprocess.run([sys.executable, str(Path(__file__).parents[2] / "examples" / "rules_engine.py"), topic,
                             "--until-idle", "10"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert engine.returncode == 0, engine.stderr
    out = tmp_path / "rules.json"
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "evaluate", "--decisions", topic, "--until-lag-zero",
                          "--json", str(out)], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    board = json.loads(out.read_text())
    assert (board["counts"]["decided"], board["counts"]["missing_decisions"], board["counts"]["unknown_decisions"]) \
        == (EVENTS, 0, 0)
    consumer = Consumer(stream.consumer_config())
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
    verdicts: dict[str, str] = {}
    for _ in range(60):
        if len(verdicts) >= EVENTS:
            break
        for message in consumer.consume(10_000, timeout=5):
            decision = json.loads(message.value())
            verdicts.setdefault(decision["transaction_id"], decision["decision"])
    consumer.close()
    declined = {tid for tid, verdict in verdicts.items() if verdict == "decline"}
    assert _measured(board) == _expected(stream, declined)
    assert board["latency"]["decided"] == EVENTS and board["latency"]["negative"] == 0


@pytest.mark.integration
def test_a_registry_framed_stream_is_read_whole(synfin_stream: StreamFactory, tmp_path: Path) -> None:
    """Transactions and labels in the Confluent wire format (00 + schema id) decode through the registry."""
    stream = synfin_stream(seed=7, events=2_000, registry=True)
    fraud = sorted(tid for tid, label in stream.labels.items() if label["is_fraud"])
    topic = _publish(stream, [(stream.labels[tid]["customer_id"],
                               json.dumps({"transaction_id": tid, "decision": "decline"}).encode()) for tid in fraud])
    out = tmp_path / "board.json"
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "evaluate", "--decisions", topic, "--until-lag-zero",
                          "--json", str(out)], env={**os.environ, **stream.env()}, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    board = json.loads(out.read_text())
    counts = board["counts"]
    assert (counts["transactions"], counts["labelled"], counts["undecodable_transactions"],
            counts["undecodable_labels"]) == (2_000, 2_000, 0, 0)
    assert counts["labels"] == stream.expected["labels"]
    assert (board["overall"]["at_decline"]["recall"], board["overall"]["at_decline"]["precision"]) == (1.0, 1.0)

"""A broker stopped for 20 s in the middle of a run: producer, processor and sink finish without an operator.

The run has a stack of its own (a stopped broker would stall every other test's clients). The broker gets
SIGTERM while all three components stream, is started again in place 20 s later (`LocalStack.up`: same
port, same data), and then every transaction must be produced once, scored once (read_committed) and
persisted once. The processor may meet librdkafka's blocked `send_offsets_to_transaction`; its watchdog
then restarts it (`processors.watchdog`), which is part of what this checks: nobody restarts anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg2
import pytest
from confluent_kafka import TopicPartition

from synfinance.common.settings import TopicNames
from synfinance.processors.kafka_io import read_to_end
from synfinance.schemas.codec import decode
from synfinance.sinks import database
from synfinance.stack.launcher import LocalStack
from tests.faults.support import cli, report_recovery, stop

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS = 30_000
RATE = 1_000  # so the stop lands mid-stream: 30 s of producing
STOP_AFTER_S, DOWN_S = 3.0, 20.0
# a commit blocked for good (librdkafka#5456) costs this before the watchdog restarts the worker; the
# default 90 s made the run ~200 s. Above the outage, so a commit merely waiting out the broker is not it.
STALL_S = 30.0
FINISH_WITHIN_S = 300.0  # the watchdog's STALL_S included



def _count(url: str, table: str) -> tuple[int, int]:
    """Rows of `table` and distinct transaction ids among them."""
    connection = database.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*), count(DISTINCT transaction_id) FROM {table}")
            rows, distinct = cursor.fetchone()
            return int(rows), int(distinct)
    finally:
        connection.close()


def _count_or_zero(url: str, table: str) -> int:
    try:
        return _count(url, table)[0]
    except psycopg2.Error:  # not created yet
        return 0


def test_a_broker_stopped_for_20_s_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "stack")
    producer = processor = sink = None
    try:
        state = stack.up()
        assert state.kafka is not None and state.postgres is not None
        env = {**os.environ, **stack.load().exports()}
        url = env["SYNFIN_DATABASE_URL"]
        for command in (["db", "init"], ["topics", "create"]):
            done = subprocess.run([sys.executable, "-m", "synfinance.cli", *command], env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        producer = cli(env, tmp_path / "producer.log", "produce", "--events", str(EVENTS), "--rate", str(RATE),
                        "--customers", "3000", "--merchants", "500", "--seed", "5")
        processor = cli(env, tmp_path / "processor.log", "process", "--no-web", "--group", "fault-processor",
                        "--stall-timeout", str(STALL_S))
        sink = cli(env, tmp_path / "sink.log", "sink", "--group", "fault-sink", "--metrics-port", "0")
        # mid-stream: every component is past its start-up (which rightly fails fast on a missing broker)
        # and rows are flowing through all three
        deadline = time.monotonic() + 120.0
        while _count_or_zero(url, "scored_transactions") == 0:
            assert time.monotonic() < deadline, "nothing was scored and persisted within 120 s"
            assert processor.poll() is None, (tmp_path / "processor.log").read_text()[-2000:]
            time.sleep(0.5)
        time.sleep(STOP_AFTER_S)
        assert producer.poll() is None  # still producing: the stop lands mid-stream
        os.kill(state.kafka.pid, signal.SIGTERM)
        time.sleep(DOWN_S)
        restarted = stack.up()
        assert restarted.kafka is not None and restarted.kafka.port == state.kafka.port  # in place
        back = time.monotonic()
        rows, scored_rows = _count(url, "transactions")[0], _count(url, "scored_transactions")[0]
        came_back: dict[str, float] = {}
        while len(came_back) < 2 and time.monotonic() < back + FINISH_WITHIN_S:
            for table, before in (("transactions", rows), ("scored_transactions", scored_rows)):
                if table not in came_back and _count(url, table)[0] > before:
                    came_back[table] = time.monotonic() - back
            time.sleep(0.25)
        report_recovery("broker SIGTERM, back after 20 s", "produced rows persisting again",
                        came_back.get("transactions", float("nan")))
        report_recovery("broker SIGTERM, back after 20 s", "scored rows persisting again",
                        came_back.get("scored_transactions", float("nan")))
        assert producer.wait(FINISH_WITHIN_S) == 0, (tmp_path / "producer.log").read_text()[-2000:]

        deadline = time.monotonic() + FINISH_WITHIN_S
        while time.monotonic() < deadline and (_count(url, "transactions")[0] < EVENTS
                                               or _count(url, "scored_transactions")[0] < EVENTS):
            assert processor.poll() is None, (tmp_path / "processor.log").read_text()[-2000:]
            assert sink.poll() is None, (tmp_path / "sink.log").read_text()[-2000:]
            time.sleep(2.0)
        assert _count(url, "transactions") == (EVENTS, EVENTS)
        assert _count(url, "scored_transactions") == (EVENTS, EVENTS)

        kafka = {"bootstrap.servers": env["SYNFIN_BOOTSTRAP_SERVERS"]}
        topics = TopicNames()
        partitions = [TopicPartition(topics.scored, p) for p in range(6)]
        scored = Counter(decode(m.value())["transaction_id"] for m in read_to_end(kafka, partitions))
        assert len(scored) == EVENTS and set(scored.values()) == {1}  # each scored once, read_committed
    finally:
        stop(processor, sink, producer)
        stack.down()

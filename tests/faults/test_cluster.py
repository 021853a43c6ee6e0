"""A 3-node KRaft cluster (`stack up --brokers 3`): topics replicated three times, and the quorum's leader
killed with SIGKILL mid-stream costs nothing: every transaction produced once and scored once. `stack up`
then restarts that node alone, in place, and it serves every record again."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from synfinance.common.settings import TopicNames
from synfinance.processors.kafka_io import read_to_end
from synfinance.schemas.codec import decode
from synfinance.stack.kafka_tools import tool_command
from synfinance.stack.launcher import LocalStack
from synfinance.stack.processes import pid_alive
from tests.faults.support import cli, report_recovery, stop

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS, RATE = 20_000, 1_000
FINISH_WITHIN_S = 300.0



def _quorum_leader(bootstrap: str, version: str) -> int:
    """The node id of the KRaft quorum's leader (the active controller), as Kafka's own tool says."""
    command = tool_command(shutil.which("java") or "java", "metadata-quorum", version, ["describe", "--status"],
                           bootstrap)
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    match = re.search(r"LeaderId:\s+(\d+)", out)
    assert match, out
    return int(match.group(1))


def _brokers(kafka: dict[str, str]) -> list[int]:
    """The broker ids the cluster's metadata lists, as the node at `kafka` answers ([] while it cannot)."""
    try:
        return sorted(AdminClient(kafka).list_topics(timeout=10).brokers)
    except KafkaException:
        return []


def _scored(kafka: dict[str, str], topic: str) -> Counter[str]:
    return Counter(decode(m.value())["transaction_id"]
                   for m in read_to_end(kafka, [TopicPartition(topic, p) for p in range(6)]))


def test_three_nodes_replicate_and_lose_nothing_when_the_leader_is_killed(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "stack")
    producer = processor = None
    try:
        state = stack.up(with_postgres=False, brokers=3)
        assert len(state.brokers) == 3 and len({b.port for b in state.brokers}) == 3
        exports = state.exports()
        assert exports["SYNFIN_REPLICATION_FACTOR"] == "3" and len(exports["SYNFIN_BOOTSTRAP_SERVERS"].split(",")) == 3
        assert LocalStack(tmp_path / "stack").up(with_postgres=False).brokers == state.brokers  # up again: no-op
        with pytest.raises(Exception, match="runs 3 Kafka node"):
            stack.up(with_postgres=False, brokers=1)
        env = {**os.environ, **exports}
        kafka = {"bootstrap.servers": exports["SYNFIN_BOOTSTRAP_SERVERS"]}
        done = subprocess.run([sys.executable, "-m", "synfinance.cli", "topics", "create"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        topics = TopicNames()
        metadata = AdminClient(kafka).list_topics(timeout=30)
        assert len(metadata.brokers) == 3
        for name in (topics.transactions, topics.labels):
            assert {len(p.replicas) for p in metadata.topics[name].partitions.values()} == {3}

        # found before the stream starts (the quorum tool is a JVM: seconds), so the kill lands mid-stream
        leader = _quorum_leader(exports["SYNFIN_BOOTSTRAP_SERVERS"], state.kafka.version)  # type: ignore[union-attr]
        victim = next(b for b in state.brokers if b.node_id == leader)
        producer = cli(env, tmp_path / "producer.log", "produce", "--events", str(EVENTS), "--rate", str(RATE),
                        "--customers", "2000", "--merchants", "300", "--seed", "9")
        # a commit may block for good when the leader dies (librdkafka#5456): the watchdog restarts the worker
        # after --stall-timeout, 30 s here rather than the default 90 s (which made this test take ~170 s)
        processor = cli(env, tmp_path / "processor.log", "process", "--no-web", "--group", "cluster-processor",
                        "--stall-timeout", "30")
        deadline = time.monotonic() + 120.0
        while not _scored(kafka, topics.scored):
            assert time.monotonic() < deadline, (tmp_path / "processor.log").read_text()[-2000:]
            assert processor.poll() is None, (tmp_path / "processor.log").read_text()[-2000:]
            time.sleep(1.0)
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.time()
        assert producer.wait(FINISH_WITHIN_S) == 0, (tmp_path / "producer.log").read_text()[-2000:]
        survivors = {"bootstrap.servers": ",".join(b.bootstrap for b in state.brokers if b is not victim)}
        assert _quorum_leader(survivors["bootstrap.servers"], victim.version) != leader  # a new leader took over

        deadline = time.monotonic() + FINISH_WITHIN_S
        scored = _scored(survivors, topics.scored)
        while sum(scored.values()) < EVENTS and time.monotonic() < deadline:
            assert processor.poll() is None, (tmp_path / "processor.log").read_text()[-2000:]
            time.sleep(3.0)
            scored = _scored(survivors, topics.scored)
        transactions = Counter(decode(m.value())["transaction_id"] for m in read_to_end(
            survivors, [TopicPartition(topics.transactions, p) for p in range(6)]))
        assert len(transactions) == EVENTS and set(transactions.values()) == {1}  # produced once each
        assert set(scored) == set(transactions) and set(scored.values()) == {1}  # scored once each
        # the longest the processor scored nothing after the kill (scoring times, from the records themselves)
        times = sorted(decode(m.value())["processed_at"] / 1e6 for m in read_to_end(
            survivors, [TopicPartition(topics.scored, p) for p in range(6)]))
        after = [t for t in times if t >= killed_at]
        assert after, "everything was scored before the kill: it did not land mid-stream"
        gaps = [b - a for a, b in zip([killed_at, *after], after, strict=False)]
        report_recovery("kill -9 of the controller leader of 3 nodes", "longest pause in scoring", max(gaps))

        # `stack up` restarts the dead node alone, on its ports and with its data; the others are never stopped
        said: list[str] = []
        again = stack.up(with_postgres=False, report=said.append)
        assert said == [f"kafka-{victim.node_id} was not running: restarted on {victim.bootstrap} with its data"]
        assert [(b.node_id, b.port, b.controller_port) for b in again.brokers] == [
            (b.node_id, b.port, b.controller_port) for b in state.brokers]
        for before, after in zip(state.brokers, again.brokers, strict=True):
            assert (after.pid != before.pid) == (before is victim) and pid_alive(after.pid)
        restarted = {"bootstrap.servers": victim.bootstrap}
        deadline = time.monotonic() + 120.0
        while len(_brokers(restarted)) < 3:  # the former leader catches up the metadata log, then registers
            assert time.monotonic() < deadline, _brokers(restarted)
            time.sleep(1.0)
        while (through := _scored(restarted, topics.scored)) != scored:  # read through the restarted node
            assert time.monotonic() < deadline, (len(through), len(scored))
            time.sleep(2.0)
        said.clear()
        assert stack.up(with_postgres=False, report=said.append).brokers == again.brokers
        assert said == ["already up: nothing to start"]
    finally:
        stop(processor, producer)
        stack.down()

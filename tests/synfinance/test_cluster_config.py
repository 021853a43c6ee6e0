"""`stack up --brokers N`: the node count is checked and kept like the Kafka version, and the state file
round-trips every node (the cluster itself runs in tests/faults/test_cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synfinance.common.errors import UsageError
from synfinance.stack.kafka import KafkaProcess, node_homes
from synfinance.stack.launcher import LocalStack, StackState


def _node(i: int) -> KafkaProcess:
    return KafkaProcess(100 + i, 9000 + i, 9100 + i, f"/d{i}", f"/l{i}", "4.4.0", i)


def test_the_node_count_is_checked_and_a_stack_keeps_its_own(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path)
    assert stack.broker_count() == 1 and stack.broker_count(3) == 3
    for bad in (0, 6):
        with pytest.raises(UsageError, match="expected 1 to 5"):
            stack.broker_count(bad)
    stack._save(StackState(kafka=_node(1), kafka_nodes=[_node(2), _node(3)]))
    assert stack.broker_count() == 3 and stack.broker_count(3) == 3
    with pytest.raises(UsageError, match="runs 3 Kafka node"):
        stack.broker_count(1)


def test_the_state_file_keeps_every_node_and_env_names_them_all(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path)
    stack._save(StackState(kafka=_node(1), kafka_nodes=[_node(2), _node(3)]))
    state = stack.load()
    assert [b.node_id for b in state.brokers] == [1, 2, 3]
    assert state.exports() == {"SYNFIN_BOOTSTRAP_SERVERS": "127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003",
                               "SYNFIN_REPLICATION_FACTOR": "3"}
    single = StackState(kafka=_node(1))
    assert single.exports() == {"SYNFIN_BOOTSTRAP_SERVERS": "127.0.0.1:9001"}  # one node: the settings' default
    raw = json.loads((tmp_path / "stack.json").read_text())
    assert len(raw["kafka_nodes"]) == 2
    # a state file from before clusters (no kafka_nodes) is one node
    del raw["kafka_nodes"]
    (tmp_path / "stack.json").write_text(json.dumps(raw))
    assert len(stack.load().brokers) == 1


def test_one_node_keeps_its_data_where_it_always_did(tmp_path: Path) -> None:
    assert node_homes(tmp_path, 1) == [tmp_path]
    assert node_homes(tmp_path, 3) == [tmp_path / "node-1", tmp_path / "node-2", tmp_path / "node-3"]

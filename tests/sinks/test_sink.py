"""The sink end to end against a real broker and PostgreSQL: exact counts, replays, crashes, outages.

Each test has its own topics, database schema and consumer group (the `rig` fixture) and runs the
real `synfinance sink` command as a subprocess.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest

from synfinance.stack import postgres

pytestmark = pytest.mark.integration


def test_every_event_lands_exactly_once_and_a_replay_changes_nothing(rig: Any, stream: Any) -> None:
    events = len(stream.transactions)
    assert events == 50_000
    rig.produce("customers", stream.customers)
    rig.produce("merchants", stream.merchants)
    rig.produce("transactions", stream.transactions)
    rig.produce("labels", stream.labels)

    rig.run_sink("--topics", "customers,merchants,transactions,labels")
    first = {t: rig.counts(t) for t in ("transactions", "labels", "customers", "merchants")}
    assert first["transactions"] == (events, events)
    assert first["labels"] == (len(stream.labels), len(stream.labels))
    assert first["customers"] == (len(stream.customers), len(stream.customers))
    assert first["merchants"] == (len(stream.merchants), len(stream.merchants))

    # the same topics again from offset 0: every row is already there, nothing changes
    rig.reset_offsets(["customers", "merchants", "transactions", "labels"])
    log = rig.run_sink("--topics", "customers,merchants,transactions,labels")
    assert {t: rig.counts(t) for t in first} == first
    assert f"{2 * events + len(stream.customers) + len(stream.merchants)} records" in log


def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(rig: Any, stream: Any) -> None:
    events = len(stream.transactions)
    rig.produce("transactions", stream.transactions)
    rig.produce("labels", stream.labels)
    # small batches: many commits, so the kill lands between a database commit and an offset commit often
    sink = rig.start_sink("--topics", "transactions,labels", "--batch-size", "2000")
    try:
        assert rig.wait_until(lambda: rig.counts("transactions")[0] >= events // 3, 60)
        sink.send_signal(signal.SIGKILL)
        sink.wait(10)
    finally:
        if sink.poll() is None:
            sink.kill()
    landed = rig.counts("transactions")[0]
    assert landed < events, "the kill came too late to be mid-stream"

    rig.run_sink("--topics", "transactions,labels", "--batch-size", "2000")
    assert rig.counts("transactions") == (events, events)
    assert rig.counts("labels") == (len(stream.labels), len(stream.labels))


def test_postgres_outage_opens_the_breaker_and_the_sink_recovers(rig: Any, stream: Any, synfin_stack: Any) -> None:
    if synfin_stack.backend != "local" or rig.database_url != synfin_stack._local_stack().load().postgres.url:
        pytest.skip("stopping PostgreSQL needs the locally launched stack (SYNFIN_DATABASE_URL or Docker is set)")
    stack = synfin_stack._local_stack()
    state = stack.load()
    events = len(stream.transactions)
    half = events // 2
    rig.produce("transactions", stream.transactions.slice(0, half))
    rig.produce("labels", stream.labels.slice(0, half))
    sink = rig.start_sink("--topics", "transactions,labels", "--batch-size", "2000", "--stop-when-idle", "5")
    try:
        assert rig.wait_until(lambda: rig.counts("transactions")[0] >= half // 4, 60)
        postgres.stop_server(state.postgres)
        stopped_at = time.monotonic()
        # the stream goes on while the database is away
        rest = threading.Thread(target=lambda: (rig.produce("transactions", stream.transactions.slice(half, events)),
                                                rig.produce("labels", stream.labels.slice(half, events))))
        rest.start()
        assert rig.wait_until(lambda: rig.metric("synfin_sink_breaker_state") == 2.0, 15), "breaker never opened"
        # the consumer thread pauses its partitions on its next pass (it may be mid-poll when the breaker opens)
        assert rig.wait_until(lambda: rig.metric("synfin_sink_paused") == 1.0, 5), "partitions not paused"
        rest.join(60)
        time.sleep(max(0.0, 15.0 - (time.monotonic() - stopped_at)))
        assert sink.poll() is None, "the sink died during the outage"
    finally:
        postgres.start_server(state.postgres)
        stack._save(state)  # the restarted postmaster has a new pid: keep the stack's state file right
    try:
        out, _ = sink.communicate(timeout=120)
    finally:
        if sink.poll() is None:
            sink.kill()
    assert sink.returncode == 0, out
    assert "circuit breaker open" in out
    assert rig.counts("transactions") == (events, events), out
    assert rig.counts("labels") == (len(stream.labels), len(stream.labels)), out

"""Controls of a running produce run without Kafka: the pacer's switch and pause, incidents, the control log
and its replay (the same records), and what is refused."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synfinance.producers.control import Control, Controller, ControlLog, LoggedControl, read_control_log
from synfinance.producers.ids import scenario_id
from synfinance.producers.incidents import INCIDENT_KINDS, Incident, incident_scenario_id, plan_incident
from synfinance.producers.pacing import Pacer
from synfinance.producers.producer import ProduceRun
from synfinance.producers.rates import Constant, Ramp
from synfinance.producers.run_config import RunConfig
from synfinance.producers.stream import StreamConfig, TransactionStream, World
from synfinance.schemas.codec import decode
from tests.producers.test_producer import TOPICS, FakeClock, Record, RecordingSink, contract

STREAM = StreamConfig(seed=11, customers=400, merchants=60)


@pytest.fixture(scope="module")
def world() -> World:
    return World(STREAM)


def run_with(world: World, controller: Controller | None, events: int = 6_000, profile: Any = None
             ) -> tuple[ProduceRun, dict[str, list[Record]], FakeClock]:
    clock = FakeClock()
    sink = RecordingSink(clock)
    config = RunConfig(stream=STREAM, profile=profile or Constant(2_000), topics=TOPICS, events=events)
    run = ProduceRun(config, sink, world=world, clock=clock, sleep=clock.sleep,
                     wall_us=lambda: int(clock.now * 1e6), controller=controller)
    run.run()
    return run, sink.records, clock


def stream_of(run: ProduceRun | None) -> dict[str, Any]:
    return {"stream_id": STREAM.stream_id, "seed": STREAM.seed, "shard": "0/1"}


# -- the pacer ---------------------------------------------------------------------------------------

def released_between(pacer: Pacer, clock: FakeClock, seconds: float) -> int:
    before, end = pacer.released, clock.now + seconds
    while clock.now < end:
        pacer.acquire(pacer.suggest_batch_size())
    return pacer.released - before


def test_a_switch_follows_the_new_rate_from_now_without_a_burst() -> None:
    clock = FakeClock()
    pacer = Pacer(Constant(1_000), clock=clock, sleep=clock.sleep)
    assert released_between(pacer, clock, 3.0) == pytest.approx(3_000, abs=5)
    pacer.switch(Constant(5_000))
    assert released_between(pacer, clock, 1.0) == pytest.approx(5_000, abs=15)
    assert pacer.achieved_rate() == pytest.approx(5_000, rel=0.01)  # measured since the switch
    pacer.switch(Constant(200))
    assert released_between(pacer, clock, 2.0) == pytest.approx(400, abs=3)


def test_a_resume_goes_on_where_the_profile_was_and_does_not_make_up_for_the_pause() -> None:
    clock = FakeClock()
    pacer = Pacer(Ramp(100, 1_100, 10), clock=clock, sleep=clock.sleep)
    released_between(pacer, clock, 5.0)  # half-way up the ramp: 600/s
    pacer.pause()
    clock.now += 30.0
    assert pacer.resume() == 30.0
    assert released_between(pacer, clock, 1.0) == pytest.approx(650, abs=10)  # 600 -> 700/s, no backlog


# -- incidents ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", INCIDENT_KINDS)
def test_every_incident_kind_plans_exactly_its_transactions(world: World, kind: str) -> None:
    members = TransactionStream(STREAM, world).members
    rows = plan_incident(world, members, STREAM.delays, 11, 2, Incident(kind, 150, 10.0), STREAM.start_us)
    assert len(rows) == 150
    assert (rows.scenario == incident_scenario_id(2)).all()
    assert rows.time_us.tolist() == [STREAM.start_us + k * 100_000 for k in range(150)]  # 10/s
    pairs = set(zip(rows.customer.tolist(), rows.seq.tolist(), strict=True))
    assert len(pairs) == 150  # transaction ids are unique
    assert ((rows.fraud_type >= 0) == (kind != "velocity")).all()
    again = plan_incident(world, members, STREAM.delays, 11, 2, Incident(kind, 150, 10.0), STREAM.start_us)
    assert np.array_equal(again.time_us, rows.time_us) and np.array_equal(again.customer, rows.customer)


@pytest.mark.parametrize("bad, reason", [
    ({"kind": "mule_ring", "transactions": 10, "rate": 1}, "incident kind"),
    ({"kind": "card_testing", "transactions": 0, "rate": 1}, "transactions must be"),
    ({"kind": "card_testing", "transactions": 10, "rate": 0}, "rate must be > 0"),
])
def test_a_bad_incident_is_refused_with_its_reason(bad: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Control("incident", bad)


def test_a_bad_profile_or_action_is_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        Control("profile", "sideways:3")
    with pytest.raises(ValueError, match="unknown control"):
        Control("explode")  # type: ignore[arg-type]


# -- the run under control ---------------------------------------------------------------------------

CONTROLS = [LoggedControl(1_500, Control("incident", {"kind": "card_testing", "transactions": 200, "rate": 20.0})),
            LoggedControl(2_500, Control("profile", "constant:8000")),
            LoggedControl(3_000, Control("pause")), LoggedControl(3_000, Control("resume"), paused_s=2.0),
            LoggedControl(4_200, Control("incident", {"kind": "velocity", "transactions": 50, "rate": 5.0}))]


def labels_of(records: list[Record]) -> list[dict[str, Any]]:
    return [decode(value) for _, value, _, _ in records]


def test_a_replayed_control_log_sends_the_same_records(world: World, tmp_path: Path) -> None:
    path = tmp_path / "controls.jsonl"
    run, controlled, _clock = run_with(world, Controller(replay=CONTROLS, log_to=ControlLog(path, stream_of(None))))
    assert run.incidents.applied == 2
    assert len(controlled["t"]) == 6_000 + 200 + 50
    timestamps = [t for _, _, t, _ in controlled["t"]]
    assert timestamps == sorted(timestamps)  # incident rows are merged in event time
    scenario = scenario_id(STREAM.stream_id, incident_scenario_id(0))
    incident_labels = [label for label in labels_of(controlled["l"]) if label["scenario_id"] == scenario]
    assert {label["fraud_type"] for label in incident_labels} == {"card_testing"}
    assert len({label["transaction_id"] for label in incident_labels}) == 200
    velocity = [label for label in labels_of(controlled["l"])
                if label["scenario_id"] == scenario_id(STREAM.stream_id, incident_scenario_id(1))]
    assert len({label["transaction_id"] for label in velocity}) == 50 and not any(v["is_fraud"] for v in velocity)

    replayed = read_control_log(path, stream_of(run))
    assert [(c.position, c.control) for c in replayed] == [(c.position, c.control) for c in CONTROLS]
    assert replayed[3].paused_s == pytest.approx(2.0, abs=0.1)
    _, again, _ = run_with(world, Controller(replay=replayed), profile=Constant(500))
    for topic in "cmtl":
        assert contract(again[topic]) == contract(controlled[topic]), topic
    _, plain, _ = run_with(world, None)
    assert len(plain["t"]) == 6_000
    assert contract(plain["t"])[:1_500] == contract(controlled["t"])[:1_500]


def test_a_control_log_of_another_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "controls.jsonl"
    ControlLog(path, {"stream_id": "AAAAAA", "seed": 1, "shard": "0/1"}).close()
    with pytest.raises(ValueError, match="written for stream"):
        read_control_log(path, {"stream_id": STREAM.stream_id, "seed": 11, "shard": "0/1"})
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="not a control log"):
        read_control_log(path, {"stream_id": STREAM.stream_id, "seed": 11, "shard": "0/1"})


def test_controls_submitted_from_another_thread_are_applied_and_answered(world: World) -> None:
    controller = Controller()
    answers: dict[str, Any] = {}

    def operator() -> None:
        answers["status"] = controller.status()
        answers["rate"] = controller.submit(Control("profile", "constant:9000"))
        answers["incident"] = controller.submit(Control("incident", {"kind": "sim_swap", "transactions": 30,
                                                                     "rate": 1.0}))
        try:
            controller.submit(Control("resume"))
        except ValueError as error:
            answers["refused"] = str(error)

    thread = threading.Thread(target=operator)
    clock = FakeClock()
    sink = RecordingSink(clock)
    config = RunConfig(stream=STREAM, profile=Constant(100), topics=TOPICS, events=3_000)
    run = ProduceRun(config, sink, world=world, clock=clock, sleep=lambda s: (clock.sleep(s), thread.join(0.001)),
                     wall_us=lambda: int(clock.now * 1e6), controller=controller)
    thread.start()
    run.run()
    thread.join(5)
    assert answers["status"]["profile"] == "constant:100"
    assert answers["rate"]["profile"] == "constant:9000"
    assert answers["incident"]["scenario_id"] == scenario_id(STREAM.stream_id, incident_scenario_id(0))
    assert answers["refused"] == "the run is not paused"
    assert len(sink.records["t"]) == 3_030
    with pytest.raises(RuntimeError, match="ended"):
        controller.status()

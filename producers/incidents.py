"""Incidents: a timed burst of one fraud type, or a wave of velocity anomalies, added to a running stream.

An operator orders one through the control API (`producers.control`). `plan_incident` turns the order into
`EventColumns` rows. The rows come from the same planners as the stream's own scenarios
(`producers.scenarios.planners`) and are completed by the same `fields.assemble`, so each transaction is
shaped like any other of its type. The victims are eligible customers of this shard.

What is fixed by the order:
- `transactions`: the number of rows, exactly;
- `rate`: transactions per second of event time. The rows are `1 / rate` seconds apart from `start_us`,
  the stream's clock when the incident is applied, in the order the planners put them: each scenario
  keeps the sequence of its steps (card testing's small attempts, then the large purchase), not its own
  gaps. An incident is a burst at the pace asked for.

Every row of the incident carries one scenario id, `incident_scenario_id(ordinal)`, in the labels. It is a
fraud label for a fraud type and a legitimate anomaly for `velocity`. The incident's number in the run,
`ordinal`, picks its generator. The same (seed, ordinal, order, start) gives the same rows, which is what
lets a control log replay a run.

Ids: an incident row's `seq` (the customer's counter in its transaction id) is numbered from
`INCIDENT_SEQ_BASE`, above any stream's own counter. Ids therefore never collide with the stream's, but a
model can tell an incident's transactions apart by that number. Incidents exist to exercise a consumer's
alerting, not to make training data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US, SECOND_US
from synfinance.producers.events import EventColumns
from synfinance.producers.labels import LabelDelays
from synfinance.producers.scenarios.engine import ANCHOR_COLUMNS, eligible
from synfinance.producers.scenarios.plan import Plan
from synfinance.producers.scenarios.planners import PLANNERS, velocity_burst
from synfinance.producers.scenarios.rows import RowBuilder
from synfinance.producers.scenarios.specs import SPEC_BY_NAME
from synfinance.producers.seeding import Kind, Purpose, entity_rng
from synfinance.producers.stream import World

__all__ = [
    "INCIDENT_KINDS",
    "INCIDENT_SEQ_BASE",
    "MAX_INCIDENTS",
    "MAX_INCIDENT_RATE",
    "MAX_INCIDENT_TRANSACTIONS",
    "Incident",
    "PendingIncidents",
    "incident_scenario_id",
    "plan_incident",
]

# The fraud types whose planners need nothing from the victim's own recent rows. Left out: refund_abuse
# (its refunds must name purchases the stream holds), transaction_replay (it copies a recent payment) and
# mule_ring (rings are planned apart, from the ring's generator).
INCIDENT_KINDS = (*(name for name in PLANNERS if name not in ("refund_abuse", "transaction_replay")), "velocity")
MAX_INCIDENT_TRANSACTIONS = 100_000
MAX_INCIDENT_RATE = 1_000_000  # a microsecond apart: event times stay distinct
MAX_INCIDENTS = 99  # per run: the seq space below holds this many
INCIDENT_SEQ_BASE = 90_000_000
_SEQ_PER_INCIDENT = 100_000
_INCIDENT_SCENARIO_BASE = 8 * 10**17  # the stream's own scenario ids stay far below (engine.scenario_id)
_ATTEMPTS_PER_ROW = 20  # planners that skip a victim (no eligible shop...) are retried this many times a row


@dataclass(frozen=True)
class Incident:
    """What an operator orders: `transactions` rows of `kind` at `rate` per second of event time."""

    kind: str
    transactions: int
    rate: float

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"incident kind {self.kind!r}: expected one of {', '.join(INCIDENT_KINDS)}")
        if not 1 <= self.transactions <= MAX_INCIDENT_TRANSACTIONS:
            raise ValueError(f"incident transactions must be 1..{MAX_INCIDENT_TRANSACTIONS:,} "
                             f"(got {self.transactions})")
        if not (math.isfinite(self.rate) and 0 < self.rate <= MAX_INCIDENT_RATE):
            raise ValueError(f"incident rate must be > 0 and <= {MAX_INCIDENT_RATE:,} transactions/s (got {self.rate})")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        return cls(str(data["kind"]), int(data["transactions"]), float(data["rate"]))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "transactions": self.transactions, "rate": self.rate}


def incident_scenario_id(ordinal: int) -> int:
    """The scenario id every row of the run's incident number `ordinal` (0-based) carries."""
    return _INCIDENT_SCENARIO_BASE + ordinal


def plan_incident(world: World, members: npt.NDArray[np.int64], delays: LabelDelays, seed: int, ordinal: int,
                  incident: Incident, start_us: int) -> EventColumns:
    """The incident's rows in event-time order (see the module docstring). Raises ValueError when this
    shard has no customer who can suffer it (e.g. no credit card holder for bust_out)."""
    if not 0 <= ordinal < MAX_INCIDENTS:
        raise ValueError(f"a run takes at most {MAX_INCIDENTS} incidents")
    customers = world.customers
    needs = "any" if incident.kind == "velocity" else SPEC_BY_NAME[incident.kind].needs
    mule = np.zeros(len(customers), dtype=bool)
    for ring in world.actors.rings:
        mule[ring] = True
    able = eligible(customers, needs, start_us // DAY_US) & ~mule
    victims = members[able[members]]
    if not len(victims):
        raise ValueError(f"no customer of this run can suffer {incident.kind} ({needs} needed)")
    rng = entity_rng(seed, Kind.INCIDENT, ordinal, Purpose.FRAUD)
    rows = RowBuilder(customers, world.merchants)
    planner = velocity_burst if incident.kind == "velocity" else PLANNERS[incident.kind]
    span_us = incident.transactions / incident.rate * SECOND_US  # scenario starts: over the burst's length
    no_anchors = {name: np.empty(0, dtype=np.int64) for name in ANCHOR_COLUMNS}
    for _ in range(incident.transactions * _ATTEMPTS_PER_ROW):
        if len(rows) >= incident.transactions:
            break
        victim = int(victims[rng.integers(len(victims))])
        start = start_us + int(rng.random() * span_us)
        planner(Plan(customers=customers, merchants=world.merchants, pools=world.pools, actors=world.actors, rows=rows,
                     rng=rng, victim=victim, start_us=start, scenario=incident_scenario_id(ordinal), delays=delays,
                     anchors=np.arange(0), anchor_rows=no_anchors))
    planned = rows.build()
    if len(planned) < incident.transactions:
        raise ValueError(f"{incident.kind} planned only {len(planned)} of {incident.transactions} transactions")
    return _numbered(planned, ordinal, incident, start_us)


def _numbered(planned: EventColumns, ordinal: int, incident: Incident, start_us: int) -> EventColumns:
    """The first rows by planned time, `1 / rate` seconds apart from `start_us`, with the incident's
    scenario id and seq numbers."""
    rows = planned.take(np.argsort(planned.time_us, kind="stable")[:incident.transactions])
    steps = np.arange(len(rows), dtype=np.float64) * (SECOND_US / incident.rate)
    rows.time_us = start_us + steps.astype(np.int64)
    rows.scenario = np.full(len(rows), incident_scenario_id(ordinal), dtype=np.int64)
    rows.seq = INCIDENT_SEQ_BASE + ordinal * _SEQ_PER_INCIDENT + np.arange(len(rows), dtype=np.int64)
    rows.original_time_us = np.full(len(rows), -1, dtype=np.int64)
    rows.original_seq = np.full(len(rows), -1, dtype=np.int64)
    return rows


class PendingIncidents:
    """The incidents applied to a run, and their rows not sent yet (in event-time order)."""

    def __init__(self, world: World, members: npt.NDArray[np.int64], delays: LabelDelays, seed: int) -> None:
        self.world, self.members, self.delays, self.seed = world, members, delays, seed
        self.applied = 0  # the next incident's ordinal
        self.rows = EventColumns.empty()

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, incident: Incident, start_us: int) -> int:
        """Plan `incident` from `start_us` (ValueError: refused); its scenario number."""
        rows = plan_incident(self.world, self.members, self.delays, self.seed, self.applied, incident, start_us)
        merged = EventColumns.concat([self.rows, rows])
        self.rows = merged.take(np.argsort(merged.time_us, kind="stable"))
        self.applied += 1
        return incident_scenario_id(self.applied - 1)

    def first_time_us(self) -> int:
        return int(self.rows.time_us[0])

    def take(self, before_us: int | None, inclusive: bool = False) -> EventColumns:
        """Remove and return the rows before `before_us` (at it too with `inclusive`; None: all of them)."""
        n = len(self.rows) if before_us is None else int(
            np.searchsorted(self.rows.time_us, before_us, side="right" if inclusive else "left"))
        taken, self.rows = self.rows.slice(0, n), self.rows.slice(n, len(self.rows))
        return taken

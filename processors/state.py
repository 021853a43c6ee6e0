"""Per-customer processor state and its wire form on the compacted state topic.

A customer's state is everything the processor must not lose in a restart or a rebalance: the
`CustomerHistory` the features come from, the model inputs of scored transactions still waiting for
their label (`pending`), and labels that arrived before their transaction was scored (`early`). It is
written to the state topic (key customer_id, same partition as the customer's transactions) in the same
Kafka transaction as the scored records and the consumer offsets, so a restored state always matches
the offsets the worker resumes from.

JSON keeps the floats exact (`repr` round-trips) and is safe to read back; Txn values are positional lists.

>>> from processors.features import Txn
>>> state = CustomerState()
>>> state.history.update(Txn(1, 500, "M1", "D1", "Pune", 18.5, 73.8, False, None))
>>> state.pending["T1"] = Pending(1, 0.25, {"log_amount": 1.5}, None)
>>> loads(dumps(state)) == state
True
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from processors.features import CustomerHistory, Txn

FORMAT_VERSION = 1


@dataclass
class Pending:
    """A scored transaction waiting for its label: what the model saw and said, and the label once in."""

    event_time: int
    score: float
    x: dict[str, float]
    label: tuple[bool, int] | None  # (is_fraud, label_time)


@dataclass
class CustomerState:
    history: CustomerHistory = field(default_factory=CustomerHistory)
    pending: dict[str, Pending] = field(default_factory=dict)
    early: dict[str, tuple[bool, int]] = field(default_factory=dict)  # txn id -> (is_fraud, label_time)

    def expire(self, before_us: int) -> bool:
        """Forget pending transactions and early labels older than `before_us`; True if any went."""
        old = [t for t, p in self.pending.items() if p.event_time < before_us]
        late = [t for t, (_, label_time) in self.early.items() if label_time < before_us]
        for txn_id in old:
            del self.pending[txn_id]
        for txn_id in late:
            del self.early[txn_id]
        return bool(old or late)


def _txn(values: list[Any]) -> Txn:
    return Txn(*values)


def _list(txn: Txn) -> list[Any]:
    return [txn.time_us, txn.amount_paise, txn.merchant_id, txn.device_id, txn.city, txn.latitude, txn.longitude,
            txn.declined, txn.payee_vpa]


def dumps(state: CustomerState) -> bytes:
    h = state.history
    body = {
        "v": FORMAT_VERSION,
        "h": [[_list(t) for t in h.recent], h.count, h.mean, h.m2, list(h.merchants), list(h.devices),
              _list(h.last) if h.last is not None else None],
        "p": {t: [p.event_time, p.score, p.x, list(p.label) if p.label else None] for t, p in state.pending.items()},
        "e": {t: list(label) for t, label in state.early.items()},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def loads(data: bytes) -> CustomerState:
    body = json.loads(data)
    if body.get("v") != FORMAT_VERSION:
        raise ValueError(f"state format {body.get('v')!r}, expected {FORMAT_VERSION}")
    recent, count, mean, m2, merchants, devices, last = body["h"]
    history = CustomerHistory(deque(_txn(t) for t in recent), count, mean, m2, set(merchants), set(devices),
                              _txn(last) if last is not None else None)
    pending = {t: Pending(e, s, x, (bool(label[0]), int(label[1])) if label else None)
               for t, (e, s, x, label) in body["p"].items()}
    early = {t: (bool(f), int(lt)) for t, (f, lt) in body["e"].items()}
    return CustomerState(history, pending, early)

"""Per-customer processor state and its wire form on the compacted state topic.

A customer's state is everything the processor must not lose in a restart or a rebalance: the
`CustomerHistory` the features come from, the model inputs of scored transactions still waiting for
their label (`pending`), labels that arrived before their transaction was scored (`early`), and label
revisions that arrived but are not due yet (`revisions`: applied at their label time). A label is
`(is_fraud, label_time, revision)`; a revision also has its transaction's event time. (The inputs of
labelled transactions, kept for later revisions, are not per customer: `processors.labelled_inputs`.)
It is written to the state topic (key customer_id, same partition as the customer's transactions) in the
same Kafka transaction as the scored records and the consumer offsets, so a restored state always
matches the offsets the worker resumes from.

The wire form is a pickle of plain values only (Txn values as positional tuples; a pending model input
as its float64 row bytes, `processors.model_input.COLUMNS` order): exact floats, ~7x faster to write
than JSON (a worker writes one per customer touched in each commit), and read back by an unpickler
that refuses every class and function, so it is as safe to load as JSON.

>>> import struct
>>> from synfinance.processors.features import Txn
>>> state = CustomerState()
>>> state.history.update(Txn(1, 500, "M1", "D1", "Pune", 18.5, 73.8, False, None))
>>> state.pending["T1"] = Pending(1, 0.25, struct.pack("<2d", 1.5, 0.0), None)
>>> state.revisions["T0"] = (True, 9, 1, 0)
>>> loads(dumps(state)) == state
True
"""

from __future__ import annotations

import io
import pickle
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from synfinance.processors.features import CustomerHistory, Txn

FORMAT_VERSION = 4  # 4: labels carry their revision, and `revisions`; 3 is read as all revision 0

Label = tuple[bool, int, int]  # (is_fraud, label_time, revision)
Revision = tuple[bool, int, int, int]  # (is_fraud, label_time, revision, event_time of its transaction)


@dataclass
class Pending:
    """A scored transaction waiting for its label: what the model saw (its input row, float64 bytes)
    and said, and the label once in."""

    event_time: int
    score: float
    x: bytes
    label: Label | None


@dataclass
class CustomerState:
    history: CustomerHistory = field(default_factory=CustomerHistory)
    pending: dict[str, Pending] = field(default_factory=dict)
    early: dict[str, Label] = field(default_factory=dict)  # txn id -> its first label
    revisions: dict[str, Revision] = field(default_factory=dict)  # txn id -> its highest revision not yet due

    def expire(self, before_us: int) -> bool:
        """Forget pending transactions, early labels and revisions older than `before_us`; True if any went."""
        old = [t for t, p in self.pending.items() if p.event_time < before_us]
        late = [t for labels in (self.early, self.revisions) for t, label in labels.items() if label[1] < before_us]
        for txn_id in old:
            del self.pending[txn_id]
        for txn_id in late:
            self.early.pop(txn_id, None)
            self.revisions.pop(txn_id, None)
        return bool(old or late)


class _PlainUnpickler(pickle.Unpickler):
    """Loads only what `dumps` writes — tuples, lists, dicts, sets, str, bytes, numbers, bools, None —
    and refuses any class or function, so a record on the state topic cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"state records hold plain values only, not {module}.{name}")


def _tuple(txn: Txn) -> tuple[Any, ...]:
    return tuple(txn)  # a plain tuple: the unpickler knows no classes


def plain_loads(data: bytes) -> Any:
    """Unpickle `data` that holds plain values only; `pickle.UnpicklingError` for any class or function."""
    return _PlainUnpickler(io.BytesIO(data)).load()


def dumps(state: CustomerState) -> bytes:
    h = state.history
    body = (FORMAT_VERSION,
            ([_tuple(t) for t in h.recent], h.count, h.mean, h.m2, sorted(h.merchants), sorted(h.devices),
             _tuple(h.last) if h.last is not None else None),
            {t: (p.event_time, p.score, p.x, p.label) for t, p in state.pending.items()},
            state.early, state.revisions)
    return pickle.dumps(body, protocol=5)


def loads(data: bytes) -> CustomerState:
    try:
        body = plain_loads(data)
        version = body[0] if isinstance(body, tuple) and body else None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"not a processor state record: {exc}") from None
    if version == 3:  # before revisions: every label was a first label
        body = (*body, {})
        body[2].update({t: (*p[:3], None if p[3] is None else (*p[3], 0)) for t, p in body[2].items()})
        body[3].update({t: (*label, 0) for t, label in body[3].items()})
    elif version != FORMAT_VERSION:
        raise ValueError(f"state format {version!r}, expected {FORMAT_VERSION}")
    _, (recent, count, mean, m2, merchants, devices, last), pending, early, revisions = body
    history = CustomerHistory(deque(Txn(*t) for t in recent), count, mean, m2, set(merchants), set(devices),
                              Txn(*last) if last is not None else None)
    return CustomerState(history, {t: Pending(*p) for t, p in pending.items()}, dict(early), dict(revisions))

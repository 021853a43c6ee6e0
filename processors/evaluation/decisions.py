"""What a decision record is: `schemas/decision.avsc` (Avro, either framing) or the same fields as JSON.

A decision names one of our transactions (`transaction_id`) and gives a `score` in [0, 1], a `decision`
(approve / review / decline), or both, and optionally `decided_at` (UTC microseconds). A value that is
neither a decodable Avro Decision nor a JSON object with a string `transaction_id` and at least one valid
score or decision is *undecodable*: the evaluator counts it, it never disappears silently. Our own
processor is scored the same way: a `synfin.scored.v1` ScoredTransaction is a score without a verdict
(decided `processing_latency_ms` after its event time), a `synfin.alerts.v1` Alert is a decline.

>>> parse_decision(b'{"transaction_id": "T1", "decision": "DECLINE", "score": 0.91}')
Decision(transaction_id='T1', score=0.91, verdict=2, decided_at=None)
>>> parse_decision(b'{"transaction_id": "T1", "score": 1.5}') is None
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from synfinance.common.units import SECOND_US
from synfinance.schemas.codec import CodecError, decode_with_name

__all__ = ["DECLINE", "NO_VERDICT", "REVIEW", "VERDICTS", "Decision", "parse_decision"]

VERDICTS = ("approve", "review", "decline")  # the codes are the indices: approve 0, review 1, decline 2
REVIEW, DECLINE = 1, 2
NO_VERDICT = -1  # the record gave only a score


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision record, validated: `verdict` is an index into VERDICTS or NO_VERDICT."""

    transaction_id: str
    score: float | None
    verdict: int
    decided_at: int | None


def _from_fields(record: Any) -> Decision | None:
    if not isinstance(record, dict) or not isinstance(record.get("transaction_id"), str):
        return None
    score, verdict, decided_at = record.get("score"), record.get("decision"), record.get("decided_at")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            return None
        if not 0.0 <= score <= 1.0:
            return None
        score = float(score)
    code = NO_VERDICT
    if verdict is not None:
        if not isinstance(verdict, str) or verdict.lower() not in VERDICTS:
            return None
        code = VERDICTS.index(verdict.lower())
    if score is None and code == NO_VERDICT:
        return None
    if decided_at is not None and (isinstance(decided_at, bool) or not isinstance(decided_at, int)):
        return None
    return Decision(record["transaction_id"], score, code, decided_at)


def parse_decision(value: bytes | None) -> Decision | None:
    """The decision a record value holds, or None when it is undecodable (see the module docstring)."""
    if not value:
        return None
    if value[:1] in (b"{", b" ", b"\n", b"\t"):
        try:
            return _from_fields(json.loads(value))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return None
    try:
        name, record = decode_with_name(value)
    except (CodecError, KeyError, ValueError, EOFError, TypeError):
        return None
    if name == "scored_transaction":  # our processor's output: a score, decided its processing latency later
        decided_at = record["event_time"] + round(record["processing_latency_ms"] * SECOND_US / 1_000)
        return Decision(record["transaction_id"], record["score"], NO_VERDICT, decided_at)
    if name == "alert":  # an alert of ours declines its transaction
        return Decision(record["transaction_id"], record["score"], DECLINE, None)
    return _from_fields(record) if name == "decision" else None

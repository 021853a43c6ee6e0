"""The quality report: every consistency rule and calibration target with its verdict, and the stream's
fraud, anomaly and label figures (not gated: they are the configuration's, reported for the reader)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synfinance.common.units import HOUR_US
from synfinance.producers.validation.columns import Stream
from synfinance.producers.validation.rules import RULES
from synfinance.producers.validation.targets import TARGETS


@dataclass(frozen=True)
class RuleResult:
    name: str
    statement: str
    violations: int
    passed: bool


@dataclass(frozen=True)
class TargetResult:
    """`measured` is None when the data cannot measure the target (a month-scale one on a week of data): it is
    then reported as n/a and not gated."""

    name: str
    cited: float
    measured: float | None
    source: str
    passed: bool

    @property
    def verdict(self) -> str:
        return "n/a" if self.measured is None else "PASS" if self.passed else "FAIL"


@dataclass
class Report:
    transactions: int
    labels: int
    rules: list[RuleResult]
    targets: list[TargetResult]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules) and all(t.passed for t in self.targets)

    def as_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "transactions": self.transactions, "labels": self.labels,
                "rules": [asdict(r) for r in self.rules], "targets": [asdict(t) for t in self.targets],
                "facts": self.facts}


def build(stream: Stream) -> Report:
    rules = []
    for rule in RULES:
        count = int(rule.violations(stream).sum())
        rules.append(RuleResult(rule.name, rule.statement, count, count == 0))
    targets = []
    for target in TARGETS:
        measured, standard_error = target.measure(stream)
        if np.isnan(measured):
            targets.append(TargetResult(target.name, target.cited, None, target.source, True))
            continue
        targets.append(TargetResult(target.name, target.cited, round(measured, 6), target.source,
                                    target.passes(measured, standard_error)))
    return Report(stream.n, stream.labels.n, rules, targets, facts(stream))


def facts(stream: Stream) -> dict[str, Any]:
    n = max(stream.n, 1)
    frauds = int(stream.is_fraud.sum())
    types = Counter(t for t in stream.fraud_type[stream.is_fraud].tolist() if t is not None)
    delays = stream.first_delay_us[~np.isnan(stream.first_delay_us)] / HOUR_US
    revisions = int((stream.labels.number("revision") > 0).sum()) if stream.labels.n else 0
    return {
        "fraud_rate": round(frauds / n, 6),
        "anomaly_rate": round(float(stream.is_anomaly.sum()) / n, 6),
        "fraud_type_mix": {k: round(v / max(frauds, 1), 4) for k, v in sorted(types.items())},
        "first_label_delay_hours": {q: round(float(np.quantile(delays, p)), 2) if len(delays) else None
                                    for q, p in (("p10", 0.1), ("median", 0.5), ("p90", 0.9))},
        "revisions": revisions,
        "decline_rate": round(float(stream.transactions.equals("status", "DECLINED").sum()) / n, 6),
    }

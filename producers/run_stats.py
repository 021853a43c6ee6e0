"""Where a produce run's records go (`RecordOutlet`) and what the run reports (`Snapshot`).

`producers.kafka.KafkaProducer` is the outlet of a real run; tests pass a recording fake. The snapshot is
what `--json-stats`, the live panel, the metrics and the control API's `GET /status` show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from synfinance.producers.kafka import DeliveryTracker, RecordHeaders

__all__ = ["RecordOutlet", "Snapshot"]


class RecordOutlet(Protocol):
    """Where the run's records go: what it needs of `producers.kafka.KafkaProducer` (tests pass a recording
    fake)."""

    tracker: DeliveryTracker
    produced: Counter[str]
    last_warning: str | None

    def send(self, topic: str, values: list[bytes], keys: list[bytes], timestamps_ms: list[int],
             headers: RecordHeaders, positions: Iterable[int], traces: Iterable[bytes]) -> None: ...
    def service(self, timeout: float = 0.0) -> None: ...
    def flush(self, timeout: float, tick: Callable[[], None] | None = None) -> int: ...
    @property
    def produced_total(self) -> int: ...
    @property
    def delivered_total(self) -> int: ...
    @property
    def failed_total(self) -> int: ...
    @property
    def in_flight(self) -> int: ...


@dataclass(frozen=True)
class Snapshot:
    """Live statistics, once per `stats_interval_s` and at the end."""

    elapsed_s: float
    streaming_s: float  # since the first transaction (after the population was published)
    produced: dict[str, int]
    delivered: int
    failed: int
    in_flight: int
    target_rate: float | None
    achieved_rate: float
    latency_p50_s: float | None
    latency_p99_s: float | None
    position: int  # next transaction position: where `--from-seq` would resume
    pending_labels: int
    warning: str | None
    done: bool = False
    # process start -> the first record after the population acknowledged (None until then)
    startup_s: float | None = None
    paused: bool = False  # by the control API (`producers.control`)

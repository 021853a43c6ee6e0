"""What a processor worker reads and writes, and the knobs of its loop (`processors.worker.Worker`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from synfinance.common.label_delays import MAX_LABEL_DELAY_US
from synfinance.common.settings import TopicNames
from synfinance.common.units import HOUR_US
from synfinance.schemas.codec import Codec

__all__ = ["WorkerConfig"]


@dataclass(frozen=True)
class WorkerConfig:
    """What to read and write, and the knobs of the loop."""

    kafka: Mapping[str, Any]
    topics: TopicNames
    group: str = "synfin-processor"
    worker_id: str = "0"  # stable per worker slot: its transactional.id and model checkpoint key
    threshold: float = 0.5
    commit_interval_s: float = 0.5
    max_hold_s: float = 5.0
    max_label_delay_us: int = MAX_LABEL_DELAY_US  # the latest a label of the default delays comes
    lookahead_us: int = HOUR_US
    batch_size: int = 2_000
    score_batch: int = 256  # transactions scored together (learning waits until a batch is scored)
    learn_negatives: float = 0.2  # share of legitimate labels the model learns (all frauds)
    max_labelled_inputs: int = 4_000_000  # inputs kept for label revisions (~135 bytes each), oldest evicted
    max_buffered: int = 5_000  # per partition: beyond it, pause fetching it
    stop_when_idle_s: float | None = None  # tests and benchmarks: exit once nothing came for this long
    # the loop not turning for this long is a hang (processors.watchdog): above a transaction's 60 s timeout
    # for one try, below the five tries `TransactionalProducer.commit` allows a retriable failure
    stall_s: float = 90.0
    codec: Codec = field(default_factory=Codec)  # the framing of scores and alerts (a registry's ids)

    @property
    def state_topic(self) -> str:
        return f"{self.group}-state-changelog"

    @property
    def inputs_topic(self) -> str:
        return f"{self.group}-labelled-inputs"

    @property
    def checkpoint_topic(self) -> str:
        return f"{self.group}-model-checkpoints"

    @property
    def checkpoint_key(self) -> bytes:
        return f"model/{self.worker_id}".encode()

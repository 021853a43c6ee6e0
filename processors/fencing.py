"""Ending the open Kafka transaction of a worker that died mid-transaction, so its outputs do not stall.

A worker killed with `kill -9` leaves its transaction open. Until the broker aborts it, read_committed
consumers of the scored and alerts topics (the sink, a user's fraud system) stop at it. That is
`transaction.timeout.ms` later, plus up to the broker's 10 s abort check. Every worker writes to every
output partition, so the stall would hold the whole pipeline, not only the dead worker's share. And it
would hold the survivor's own records behind it, well after the survivor took the partitions over.

`GroupFence` watches the group's membership at each assignment. Each worker's group consumer has its
transactional id as `client.id`. For every member that has left since the last assignment, the fence
starts a producer with that member's transactional id: `init_transactions` aborts the member's open
transaction at once and fences the dead process, should it still be running. A member that left
cleanly has no open transaction, so fencing it changes nothing. A restart under the same id calls
`init_transactions` itself, which fences the same way. Before it does, it waits until its id has left the
group (`wait_until_free`): a restarted worker waits out its dead self's session, and a second worker
started with the same index is refused instead of fencing the first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from synfinance.common.kafka_logging import client_logging

__all__ = ["GroupFence"]

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0


class GroupFence:
    """Fences the transactional ids of members that left the group (see the module docstring)."""

    def __init__(self, kafka: Mapping[str, Any], group: str, own_id: str) -> None:
        self.kafka, self.group, self.own_id = dict(kafka), group, own_id
        self.known: set[str] = set()

    def members(self) -> set[str]:
        """The client ids of the group's members now (empty if the broker cannot tell)."""
        return {client_id for _, client_id in self._members()}

    def wait_until_free(self, within_s: float) -> bool:
        """Before this worker takes its transactional id: wait until no member of the group has it. A dead
        process that had it (this worker before a restart) drops out within the session timeout; a member
        still there after `within_s` is alive, another worker started with the same `--worker-index`, and
        taking the id would fence its transactions (and it ours, in turn). Returns False then."""
        deadline = time.monotonic() + within_s
        while self.own_id in self.members():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def _members(self) -> list[tuple[str, str]]:
        admin = AdminClient({**self.kafka, **client_logging()})
        try:
            description = admin.describe_consumer_groups([self.group], request_timeout=TIMEOUT_S)[self.group]
            return [(member.member_id, member.client_id) for member in description.result(TIMEOUT_S).members]
        except (KafkaException, TimeoutError) as error:
            log.warning("could not list the members of group %s: %s", self.group, error, extra={"group": self.group})
            return []

    def after_assignment(self) -> list[str]:
        """Fence the members gone since the last call; the ids fenced."""
        current = self.members()
        if not current:
            return []  # the broker did not answer: nothing is known to have left
        gone = sorted(self.known - current - {self.own_id})
        self.known = current
        for transactional_id in gone:
            self.fence(transactional_id)
        return gone

    def fence(self, transactional_id: str) -> None:
        producer = Producer({**self.kafka, "transactional.id": transactional_id, **client_logging()})
        try:
            producer.init_transactions(TIMEOUT_S)
            log.warning("fenced %s, which left group %s: its open transaction is aborted", transactional_id,
                        self.group, extra={"group": self.group, "transactional_id": transactional_id})
        except KafkaException as error:
            log.warning("could not fence %s: %s", transactional_id, error,
                        extra={"group": self.group, "transactional_id": transactional_id})
        finally:
            producer.flush(0)

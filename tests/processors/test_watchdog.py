"""The stall watchdog: a loop that stops beating is reported once, with what did not return."""

from __future__ import annotations

import threading
import time

from synfinance.processors.watchdog import Watchdog


def test_a_beating_loop_is_never_reported_and_a_stuck_one_is_once() -> None:
    now = [0.0]
    dog = Watchdog(30.0, clock=lambda: now[0])
    for step in range(100):  # a loop turning every second for 100 s
        now[0] = float(step)
        dog.beat()
        assert dog.check() is None
    dog.beat("committing a Kafka transaction")
    now[0] += 30.0
    assert dog.check() is None  # at the limit, not past it
    now[0] += 0.5
    assert dog.check() == "committing a Kafka transaction has not returned in 30 s"


def test_the_watching_thread_calls_back_once_and_ends() -> None:
    dog = Watchdog(0.2)
    calls: list[str] = []
    called = threading.Event()
    thread = dog.watch(lambda reason: (calls.append(reason), called.set()))
    for _ in range(5):  # beating: no call
        time.sleep(0.05)
        dog.beat("polling Kafka")
    assert not calls
    dog.beat("committing a Kafka transaction")
    assert called.wait(2.0)
    thread.join(2.0)
    assert not thread.is_alive() and len(calls) == 1
    assert calls[0].startswith("committing a Kafka transaction has not returned in ") and dog.stalled == calls[0]


def test_stop_ends_the_thread_without_a_call() -> None:
    dog = Watchdog(60.0)
    thread = dog.watch(lambda reason: None)
    dog.stop()
    thread.join(2.0)
    assert not thread.is_alive() and dog.stalled is None

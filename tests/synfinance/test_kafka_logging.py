"""The librdkafka log filter: one line per distinct problem, repeats counted, benign transients demoted; and a
real librdkafka client refused by a closed port says so once."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from confluent_kafka import KafkaError, Producer

from synfinance.common.kafka_logging import ClientLog

REFUSED = ("[thrd:127.0.0.1:{port}/bootstrap]: 127.0.0.1:{port}/bootstrap: Connect to ipv4#127.0.0.1:{port} "
           "failed: Connection refused (after {ms}ms in state CONNECT)")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def records() -> list[logging.LogRecord]:
    caught: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record)

    logger = logging.getLogger("test.kafka_logging")
    logger.handlers[:] = [Keep(level=logging.DEBUG)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return caught


def problems(records: list[logging.LogRecord]) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in records if r.levelno >= logging.WARNING]


def test_a_problem_is_logged_once_then_counted_and_reminded(records: list[logging.LogRecord]) -> None:
    clock = Clock()
    log = ClientLog(logging.getLogger("test.kafka_logging"), remind_s=60.0, clock=clock)
    for i in range(290):  # what `sink` printed for an unreachable broker, ports and timings varying
        clock.now = i * 0.1
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", REFUSED.format(port=1 + i % 3, ms=i % 9))
    first = "kafka FAIL: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms " \
            "in state CONNECT)"
    assert problems(records) == [("ERROR", first)]
    clock.now = 28.9 + 60.0
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", REFUSED.format(port=1, ms=0))
    assert problems(records)[1:] == [("ERROR", f"{first} (289 more times in the 89 s before)")]
    assert log.counts() == {"#: Connect to # failed: Connection refused (after #ms in state CONNECT)": 291}


def test_distinct_problems_each_get_their_line(records: list[logging.LogRecord]) -> None:
    log = ClientLog(logging.getLogger("test.kafka_logging"))
    for _ in range(3):
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-2", REFUSED.format(port=9092, ms=1))
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-2",
                "sasl.example:9093/1: SASL authentication error: Authentication failed")
        log.log(logging.WARNING, "%s [%s] %s", "ERROR", "rdkafka#consumer-2", "2/2 brokers are down")
    assert [message for _, message in problems(records)] == [
        "kafka FAIL: 127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused "
        "(after 1ms in state CONNECT)",
        "kafka FAIL: sasl.example:9093/1: SASL authentication error: Authentication failed",
        "kafka ERROR: 2/2 brokers are down"]


def test_an_error_callback_and_the_log_line_of_one_problem_are_one_line(records: list[logging.LogRecord]) -> None:
    log = ClientLog(logging.getLogger("test.kafka_logging"))
    message = REFUSED.format(port=1, ms=0).split("]: ", 1)[1]
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", REFUSED.format(port=1, ms=0))
    log.error(KafkaError(KafkaError._TRANSPORT, message))
    log.error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert problems(records) == [("ERROR", f"kafka FAIL: {message}"),
                                 ("WARNING", "kafka ALL_BROKERS_DOWN: 1/1 brokers are down")]


def test_benign_transients_and_notices_are_debug_only(records: list[logging.LogRecord]) -> None:
    log = ClientLog(logging.getLogger("test.kafka_logging"))
    log.log(logging.WARNING, "%s [%s] %s", "GETPID", "rdkafka#producer-1",
            "[thrd:main]: Failed to acquire idempotence PID from broker 127.0.0.1:52755/1: Broker: Coordinator "
            "load in progress: retrying")
    log.log(logging.INFO, "%s [%s] %s", "CLOSE", "rdkafka#consumer-3", "[thrd:main]: Consumer closed")
    assert problems(records) == []
    assert [r.levelname for r in records] == ["DEBUG", "DEBUG"]
    assert log.counts() == {}


def test_a_real_client_refused_by_a_closed_port_logs_one_line(records: list[logging.LogRecord]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = ClientLog(logging.getLogger("test.kafka_logging"))
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "logger": log, "error_cb": log.error,
                         "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 50})
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        producer.poll(0.1)
    refused = [key for key in log.counts() if "Connection refused" in key]
    assert refused == ["#: Connect to # failed: Connection refused (after #ms in state CONNECT)"]
    assert log.counts()[refused[0]] >= 5  # librdkafka retried (and reported) it many times ...
    lines = [message for _, message in problems(records)]
    assert sum("Connection refused" in line for line in lines) == 1  # ... and it was said once
    assert len(lines) <= 2, lines  # with at most "1/1 brokers are down"

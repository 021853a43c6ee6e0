"""synfinance.common.trace: W3C traceparent checking, re-parenting and trace ids (pure logic, no broker)."""

from __future__ import annotations

import re

import numpy as np

from synfinance.common.trace import child_traceparents, header_value, is_trace_id, trace_ids, traceparents

W3C = re.compile(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
GOOD = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
INVALID = [
    None, b"", GOOD[:-1], GOOD + b"0",  # missing, empty, too short, version 00 too long
    GOOD.upper(), GOOD.replace(b"4bf9", b"4bg9"),  # upper-case, not hex
    b"ff" + GOOD[2:],  # version ff is forbidden
    b"00-" + b"0" * 32 + GOOD[35:], GOOD[:36] + b"0" * 16 + GOOD[52:],  # all-zero trace id, parent id
    GOOD.replace(b"-", b"_"), GOOD[:35] + b"x" + GOOD[36:],  # separators
    b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  # a later version's extra part needs a '-'
]


def test_a_child_keeps_trace_and_flags_and_gets_a_new_parent_id() -> None:
    parents = [*traceparents(np.random.default_rng(2), 1000).tolist(), GOOD.replace(b"-01", b"-00")]
    children = child_traceparents(parents, np.random.default_rng())
    assert len(children) == len(parents)
    for parent, child in zip(parents, children, strict=True):
        assert child is not None and W3C.fullmatch(child), child
        assert child[:36] == parent[:36] and child[52:] == parent[52:]  # version, trace id, flags
        assert child[36:52] != parent[36:52]
    assert len({child[36:52] for child in children if child is not None}) == len(children)  # random, distinct


def test_invalid_values_get_no_child_and_no_trace_id() -> None:
    values = [GOOD, *INVALID, GOOD]
    children = child_traceparents(values, np.random.default_rng())
    assert [child is not None for child in children] == [True] + [False] * len(INVALID) + [True]
    assert trace_ids(values).tolist() == [GOOD[3:35]] + [b""] * len(INVALID) + [GOOD[3:35]]


def test_a_later_version_is_read_and_answered_as_version_00() -> None:
    later = b"01" + GOOD[2:] + b"-what-version-01-adds"
    (child,) = child_traceparents([later], np.random.default_rng())
    assert child is not None and W3C.fullmatch(child) and child[:36] == b"00" + GOOD[2:36]
    assert trace_ids([later]).tolist() == [GOOD[3:35]]


def test_empty_batches_and_the_header_lookup() -> None:
    assert child_traceparents([], np.random.default_rng()) == []
    assert trace_ids([]).tolist() == []
    assert header_value([("synfin-seq", b"7"), ("traceparent", GOOD)]) == GOOD
    assert header_value([("synfin-seq", b"7")]) is None and header_value(None) is None


def test_trace_id_input() -> None:
    assert is_trace_id(GOOD[3:35].decode())
    assert not any(is_trace_id(text) for text in ("", "0" * 32, GOOD[3:35].decode().upper(), "a" * 31, "g" * 32))

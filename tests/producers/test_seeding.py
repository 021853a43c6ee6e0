"""Seeding and ordering shortcuts: each must give exactly what the plain numpy call it replaces gives."""

from __future__ import annotations

import numpy as np
import pytest

from synfinance.producers.events import EventColumns, stable_order
from synfinance.producers.seeding import Kind, Purpose, entity_rng, entity_rngs
from synfinance.producers.stream import merge_by_customer


@pytest.mark.parametrize("seed", [0, 42, 2**32 - 2, 2**32 - 1, 2**40])
def test_entity_rngs_are_entity_rng_state_for_state(seed: int) -> None:
    indices = [0, 1, 2, 7, 999, 123_456, 2**31, 2**32 - 2, 2**32 - 1, 2**33]  # the last two: fallback path
    for index, rng in zip(indices, entity_rngs(seed, Kind.CUSTOMER, indices, Purpose.ARRIVALS), strict=True):
        reference = entity_rng(seed, Kind.CUSTOMER, index, Purpose.ARRIVALS)
        assert rng.bit_generator.state == reference.bit_generator.state, (seed, index)
        assert rng.random(3).tolist() == reference.random(3).tolist()


def test_entity_rngs_of_a_whole_population() -> None:
    members = np.arange(3, 10_000, 4)
    rngs = entity_rngs(11, Kind.MERCHANT, members, Purpose.ARRIVALS)
    for k in (0, 1, 500, len(members) - 1):
        reference = entity_rng(11, Kind.MERCHANT, int(members[k]), Purpose.ARRIVALS)
        assert rngs[k].bit_generator.state == reference.bit_generator.state


@pytest.mark.parametrize("spread", [10, 10**9, 2**62])  # many ties; event times; too wide to pack (fallback)
def test_stable_order_is_the_stable_argsort(spread: int) -> None:
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 17, 50_000):
        values = rng.integers(0, spread, n, dtype=np.int64) - spread // 2
        assert stable_order(values).tolist() == np.argsort(values, kind="stable").tolist()


def rows(customer: np.ndarray, time_us: np.ndarray) -> EventColumns:
    empty = EventColumns.empty()
    n = len(customer)
    columns = {name: np.zeros(n, dtype=getattr(empty, name).dtype) for name in empty.__dataclass_fields__}
    return EventColumns(**{**columns, "customer": customer, "time_us": time_us})


def test_merge_by_customer_is_the_stable_argsort_of_both() -> None:
    rng = np.random.default_rng(8)
    start = 1_700_000_000_000_000
    customer = np.sort(rng.integers(0, 300, 20_000))
    time_us = start + rng.integers(0, 10**6, 20_000) // 1000 * 1000  # coarse: equal keys across the two
    order = np.lexsort((time_us, customer))
    legit = rows(customer[order], time_us[order])
    fraud = rows(rng.integers(0, 300, 700), start + rng.integers(0, 10**6, 700) // 1000 * 1000)
    keys = np.concatenate([(r.customer << 42) + (r.time_us - start) for r in (legit, fraud)])
    assert merge_by_customer(legit, fraud, start).tolist() == np.argsort(keys, kind="stable").tolist()
    unsorted = rows(legit.customer[::-1].copy(), legit.time_us[::-1].copy())  # not sorted: the fallback
    keys = np.concatenate([(r.customer << 42) + (r.time_us - start) for r in (unsorted, fraud)])
    assert merge_by_customer(unsorted, fraud, start).tolist() == np.argsort(keys, kind="stable").tolist()

"""Fit the calibration multipliers of `producers/world/`: MODE_CALIBRATION (`payment_rails.py`: each payment
mode's weight in a customer's own mix) and CATEGORY_CALIBRATION (`categories.py`: each category's), so that a
default stream's legitimate payments come out at PAYMENT_MODE_SHARES and its UPI P2M payments at the categories'
p2m_volume_share; and those of `producers/world/geography.py`: STATE_CALIBRATION (each state's weight in
where people live and shop) so that the states' shares of payments come out at STATE_PAYMENT_SHARES, and
STATE_TICKET (each state's price factor) so that the seven NPCI states' shares of value come out at NPCI's.

Run: ``.venv/bin/python bench/calibrate.py [--events 300000] [--rounds 5] [--seeds 42 7]``. Each round
generates the streams of the seeds (pooled: a fit to one population would carry its quirks) with the
current multipliers, measures the shares and multiplies each multiplier by target /
measured (a fixed-point iteration: customers' own holdings and affinities make the map close to, not
exactly, linear). It prints every round and the dicts to paste.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synfinance.producers import arrivals, customer_draws, merchants
from synfinance.producers import events as ev
from synfinance.producers.scenarios import plan
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.producers.world import geography
from synfinance.producers.world.categories import CATEGORY_CALIBRATION, CATEGORY_NAMES, CATEGORY_WEIGHTS
from synfinance.producers.world.payment_rails import MODE_CALIBRATION, PAYMENT_MODE_SHARES

STATES = tuple(geography.PHONEPE_STATE_COUNT_SHARE_2024)
_CITY_STATE = np.array([STATES.index(c.state) for c in geography.CITIES])
_RAW = np.array([c.population_weight / geography.STATE_CALIBRATION[c.state] for c in geography.CITIES])
SMALL_STATE = 0.002  # a target share below this is ~20 of the default 10,000 customers


def apply_states(weight: np.ndarray, ticket: np.ndarray) -> None:
    """Put state factors in place of geography's, in every table built from them at import."""
    cities = _RAW * weight[_CITY_STATE]
    cities /= cities.sum()
    cumulative = np.cumsum(cities)
    for table in (arrivals._CITY_CUM_ARRAY, plan._CITY_CUM, merchants._CITY_CUMULATIVE):
        table[:] = cumulative
    customer_draws._CITY_TABLE.cumulative = cumulative.tolist()
    cost = geography.CITY_COST
    cost.flags.writeable = True
    cost[:] = [geography.COST_OF_LIVING[c.tier] * ticket[_CITY_STATE[i]] for i, c in enumerate(geography.CITIES)]


def measure(events: int, seeds: list[int]) -> tuple[np.ndarray, ...]:
    """Mode shares of legitimate non-cash payments; category shares of legitimate UPI P2M payments; each
    state's share of those payments' count and of their value."""
    modes, categories = np.zeros(len(ev.PAYMENT_MODES)), np.zeros(len(CATEGORY_NAMES))
    states, value = np.zeros(len(STATES)), np.zeros(len(STATES))
    for seed in seeds:
        world = TransactionStream(StreamConfig(seed=seed))
        batch = next(world.batches(events))
        keep = (batch.fraud_type < 0) & (batch.transaction_type != ev.CASH_WITHDRAWAL)
        modes += np.bincount(batch.payment_mode[keep], minlength=len(modes))
        p2m = keep & (batch.payment_mode == ev.UPI) & (batch.transaction_type == ev.PURCHASE)
        categories += np.bincount(world.world.merchants.category[batch.merchant[p2m]], minlength=len(categories))
        state = _CITY_STATE[batch.city[keep]]
        states += np.bincount(state, minlength=len(STATES))
        value += np.bincount(state, weights=batch.amount_paise[keep].astype(np.float64), minlength=len(STATES))
    return modes / modes.sum(), categories / categories.sum(), states / states.sum(), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    args = parser.parse_args()
    modes = [m.lower() for m in ev.PAYMENT_MODES]
    mode_target = np.array([PAYMENT_MODE_SHARES[m] for m in modes])
    mode_k = np.array([MODE_CALIBRATION[m] for m in modes])
    category_k = np.array([CATEGORY_CALIBRATION[c] for c in CATEGORY_NAMES])
    mode_base = customer_draws._MODE_BASE / mode_k  # the uncalibrated weights
    category_base = customer_draws._PERSONA_CATEGORIES_RAW
    state_target = np.array([geography.STATE_PAYMENT_SHARES[s] for s in STATES])
    state_k = np.array([geography.STATE_CALIBRATION[s] for s in STATES])
    ticket_k = np.array([geography.STATE_TICKET[s] for s in STATES])
    npci = np.array([s in geography.NPCI_STATE_UPI_JULY_2025 for s in STATES])
    value_target = np.array([geography.NPCI_STATE_UPI_JULY_2025.get(s, (0.0, 0.0))[1] for s in STATES])
    value_target /= value_target.sum()
    for round_ in range(args.rounds):
        customer_draws._MODE_BASE[:] = mode_base * mode_k
        customer_draws._PERSONA_CATEGORIES[:] = customer_draws.category_mix(category_base, category_k)
        apply_states(state_k, ticket_k)
        mode_share, category_share, state_share, state_value = measure(args.events, args.seeds)
        value_share = np.where(npci, state_value, 0.0) / state_value[npci].sum()
        worst = max(np.max(np.abs(mode_share / mode_target - 1)), np.max(np.abs(category_share / CATEGORY_WEIGHTS - 1)),
                    np.max(np.abs(state_share[npci] / state_target[npci] - 1)),
                    np.max(np.abs(value_share[npci] / value_target[npci] - 1)))
        print(f"round {round_}: worst relative error {worst:.3f}; modes " + ", ".join(
            f"{m} {s:.4f}" for m, s in zip(modes, mode_share, strict=True)) + "; states " + ", ".join(
            f"{s} {x:.4f}/{t:.4f}" for s, x, t in zip(STATES, state_share, state_target, strict=True) if x or t),
            flush=True)
        state_k = state_k * state_target / np.maximum(state_share, 1e-6)
        state_k /= state_k[STATES.index("Maharashtra")]
        # a state of a few customers measures mostly noise: its factor is the big states' ratio of fitted to
        # population-only factors, times its own population-only factor
        population_only = state_target / np.maximum(np.bincount(_CITY_STATE, weights=_RAW, minlength=len(STATES)),
                                                    1e-12)
        small = state_target < SMALL_STATE
        state_k[small] = np.median(state_k[~small] / population_only[~small]) * population_only[small]
        # a state's value share moves with its count share too: correct the ticket by the value-per-count miss
        count_among = np.where(npci, state_share, 0.0) / state_share[npci].sum()
        per_count = value_share / np.maximum(count_among, 1e-9)
        wanted = value_target / np.maximum(np.where(npci, state_target, 0.0) / state_target[npci].sum(), 1e-9)
        ticket_k = np.where(npci, ticket_k * wanted / np.maximum(per_count, 1e-9), 1.0)
        ticket_k[npci] /= np.average(ticket_k[npci], weights=state_target[npci])  # the average price stays
        mode_k = mode_k * mode_target / np.maximum(mode_share, 1e-6)
        mode_k /= mode_k[ev.UPI]
        category_k = category_k * CATEGORY_WEIGHTS / np.maximum(category_share, 1e-6)
        category_k /= np.average(category_k, weights=CATEGORY_WEIGHTS)
    print("STATE_CALIBRATION = {" + ", ".join(f'"{s}": {k:.4g}' for s, k in zip(STATES, state_k, strict=True)) + "}")
    print("STATE_TICKET = {" + ", ".join(f'"{s}": {k:.3f}' for s, k in zip(STATES, ticket_k, strict=True) if k != 1.0)
          + "}")
    print("MODE_CALIBRATION = {" + ", ".join(f'"{m}": {k:.3f}' for m, k in zip(modes, mode_k, strict=True)) + "}")
    print("CATEGORY_CALIBRATION = {" + ", ".join(f'"{c}": {k:.3f}' for c, k in zip(CATEGORY_NAMES, category_k,
                                                                                       strict=True)) + "}")


if __name__ == "__main__":
    main()

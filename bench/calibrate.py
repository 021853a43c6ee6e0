"""Fit the calibration multipliers of `producers/world/catalogue.py`: MODE_CALIBRATION (each payment mode's
weight in a customer's own mix) and CATEGORY_CALIBRATION (each category's), so that a default stream's
legitimate payments come out at PAYMENT_MODE_SHARES and its UPI P2M payments at the categories'
p2m_volume_share.

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

from synfinance.producers import customers as customers_module
from synfinance.producers import events as ev
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.producers.world.catalogue import (
    CATEGORY_CALIBRATION,
    CATEGORY_NAMES,
    CATEGORY_WEIGHTS,
    MODE_CALIBRATION,
    PAYMENT_MODE_SHARES,
)


def measure(events: int, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mode shares of legitimate non-cash payments; category shares of legitimate UPI P2M payments."""
    modes, categories = np.zeros(len(ev.PAYMENT_MODES)), np.zeros(len(CATEGORY_NAMES))
    for seed in seeds:
        world = TransactionStream(StreamConfig(seed=seed))
        batch = next(world.batches(events))
        keep = (batch.fraud_type < 0) & (batch.transaction_type != ev.CASH_WITHDRAWAL)
        modes += np.bincount(batch.payment_mode[keep], minlength=len(modes))
        p2m = keep & (batch.payment_mode == ev.UPI) & (batch.transaction_type == ev.PURCHASE)
        categories += np.bincount(world.world.merchants.category[batch.merchant[p2m]], minlength=len(categories))
    return modes / modes.sum(), categories / categories.sum()


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
    mode_base = customers_module._MODE_BASE / mode_k  # the uncalibrated weights
    category_base = customers_module._PERSONA_CATEGORIES_RAW
    for round_ in range(args.rounds):
        customers_module._MODE_BASE[:] = mode_base * mode_k
        customers_module._PERSONA_CATEGORIES[:] = customers_module.category_mix(category_base, category_k)
        mode_share, category_share = measure(args.events, args.seeds)
        worst = max(np.max(np.abs(mode_share / mode_target - 1)), np.max(np.abs(category_share / CATEGORY_WEIGHTS - 1)))
        print(f"round {round_}: worst relative error {worst:.3f}; modes " + ", ".join(
            f"{m} {s:.4f}" for m, s in zip(modes, mode_share, strict=True)), flush=True)
        mode_k = mode_k * mode_target / np.maximum(mode_share, 1e-6)
        mode_k /= mode_k[ev.UPI]
        category_k = category_k * CATEGORY_WEIGHTS / np.maximum(category_share, 1e-6)
        category_k /= np.average(category_k, weights=CATEGORY_WEIGHTS)
    print("MODE_CALIBRATION = {" + ", ".join(f'"{m}": {k:.3f}' for m, k in zip(modes, mode_k, strict=True)) + "}")
    print("CATEGORY_CALIBRATION = {" + ", ".join(f'"{c}": {k:.3f}' for c, k in zip(CATEGORY_NAMES, category_k,
                                                                                       strict=True)) + "}")


if __name__ == "__main__":
    main()

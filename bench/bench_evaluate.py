"""What one refresh of `synfinance evaluate` costs: join + scoreboard over N transactions already read.

    python bench/bench_evaluate.py --transactions 1000000

Synthetic columns (2% fraud of four types in scenarios of three, a uniform score per transaction, one label
and one decision each), appended through `Observed` as the reader appends; then the first refresh (which
converts every column to numpy once) and a second one after 1% more records (which converts only those).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from synfinance.processors.evaluation.decisions import NO_VERDICT
from synfinance.processors.evaluation.joined import Observed, join
from synfinance.processors.evaluation.scoreboard import score


def _append(seen: Observed, start: int, n: int, rng: np.random.Generator) -> None:
    fraud = (rng.random(n) < 0.02).tolist()
    kinds = np.array(["card_testing", "stolen_card", "sim_swap", "mule_ring"])[rng.integers(0, 4, n)].tolist()
    scores = rng.random(n).tolist()
    for k in range(n):
        tid, f = f"T{start + k:012d}", fraud[k]
        seen.add_transaction(tid, (start + k) * 1_000, 10_000)
        seen.add_label(tid, 0, f, kinds[k] if f else None, f"S{(start + k) // 3}" if f else None, False, None)
        seen.add_decision(tid, scores[k], NO_VERDICT, None, (start + k) * 1_000 + 5_000)


def _refresh(seen: Observed) -> tuple[float, float]:
    started = time.perf_counter()
    joined = join(seen)
    middle = time.perf_counter()
    score(joined)
    return middle - started, time.perf_counter() - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    seen = Observed()
    started = time.perf_counter()
    _append(seen, 0, args.transactions, rng)
    appended = time.perf_counter() - started
    first = _refresh(seen)
    _append(seen, args.transactions, args.transactions // 100, rng)
    second = _refresh(seen)
    print(f"{args.transactions:,} transactions: appending {appended:.2f} s; first refresh join {first[0]:.2f} s + "
          f"score {first[1]:.2f} s; after 1% more, join {second[0]:.2f} s + score {second[1]:.2f} s")


if __name__ == "__main__":
    main()

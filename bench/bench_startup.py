"""Benchmark: `synfinance produce` start-up, process start -> first transaction acknowledged.

Run: ``python bench/bench_startup.py [--repeat 5] [--customers 10000] [--merchants 2000]``. Starts a local
broker (`synfinance.stack`) in a temporary directory and runs ``synfinance produce --events 1000 --rate 1000
--json-stats`` ``--repeat`` times per case, printing the median and the spread of the run's own
``startup_s`` (from the kernel's start time of the process: interpreter, imports, topic check, world,
population, generator start, first acknowledgement) and the process's wall time. Cases: the world cache
cold (``SYNFIN_WORLD_CACHE=off``: every run builds the world and encodes the population, as before the
cache) and warm, each with the generator in its child process (the default) and on a thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "synfinance.cli", *args]


def one_run(env: dict[str, str], customers: int, merchants: int, generator: str) -> tuple[float, float]:
    began = time.monotonic()
    done = subprocess.run(cli("produce", "--events", "1000", "--rate", "1000", "--json-stats", "--quiet",
                              "--customers", str(customers), "--merchants", str(merchants), "--generator", generator),
                          env=env, capture_output=True, text=True, timeout=300, check=True)
    wall = time.monotonic() - began
    last = json.loads(done.stdout.splitlines()[-1])
    return float(last["startup_s"]), wall


def startup_table(env: dict[str, str], repeat: int, customers: int = 10_000, merchants: int = 2_000) -> list[str]:
    """The table's lines: every case `repeat` times, on the broker and topics of `env` (created here)."""
    env = {**env, "SYNFIN_CACHE_DIR": tempfile.mkdtemp(prefix="bench-startup-cache-")}  # starts cold
    subprocess.run(cli("topics", "create"), env=env, check=True, capture_output=True, timeout=120)
    one_run(env, customers, merchants, "thread")  # warm-up: the broker's JVM, and the cache
    lines = [f"{'world cache':>11} {'generator':>9} {'startup_s median':>16} {'min':>6} {'max':>6} "
             f"{'wall median':>11}"]
    for cache in ("off", "on"):
        for generator in ("process", "thread"):
            runs = [one_run({**env, "SYNFIN_WORLD_CACHE": cache}, customers, merchants, generator)
                    for _ in range(repeat)]
            startups = [s for s, _ in runs]
            lines.append(f"{cache:>11} {generator:>9} {statistics.median(startups):>15.3f}s {min(startups):>5.3f}s "
                         f"{max(startups):>5.3f}s {statistics.median(w for _, w in runs):>10.3f}s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--merchants", type=int, default=2_000)
    args = parser.parse_args()
    from synfinance.stack.launcher import LocalStack

    stack = LocalStack(Path(tempfile.mkdtemp(prefix="bench-startup-")))
    try:
        state = stack.up(with_postgres=False)
        for line in startup_table({**os.environ, **state.exports()}, args.repeat, args.customers, args.merchants):
            print(line, flush=True)
    finally:
        stack.down()


if __name__ == "__main__":
    main()

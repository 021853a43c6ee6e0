"""Processor memory over a long stream: RSS at every 100k scored events (issue #19: does it level off?).

Run: ``.venv/bin/python bench/bench_process_rss.py [--events 1000000] [--step 100000]
[--max-labelled-inputs N]``. Starts a local
stack of its own (Kafka only) in a temporary state dir, fills the default topics with
``synfinance produce --profile max --events N`` (default world: 10,000 customers), then runs
``synfinance process`` with one worker and samples, once a second, its ``synfin_processed_total`` (from
``/metrics``) and its resident set size (``/proc/<pid>/status``). Prints one row per `step` events and the
peak. The stream's event time runs ~7 weeks over 1M events, past the default label delays, so pending
labels expire within the run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synfinance.stack.launcher import LocalStack
from synfinance.stack.processes import free_port


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024.0  # type: ignore[union-attr]


def processed(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return -1
    match = re.search(r"^synfin_processed_total (\S+)$", text, re.M)
    return int(float(match.group(1))) if match else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=100_000)
    parser.add_argument("--max-labelled-inputs", type=int, default=None,
                        help="the processor's bound on kept labelled inputs (default: its own, 4M)")
    args = parser.parse_args()
    stack = LocalStack(Path(tempfile.mkdtemp(prefix="synfin-rss-")))
    worker: subprocess.Popen[bytes] | None = None
    try:
        state = stack.up(with_postgres=False)
        env = {**os.environ, **state.exports()}
        cli = [sys.executable, "-m", "synfinance.cli"]
        started = time.monotonic()
        subprocess.run([*cli, "produce", "--profile", "max", "--events", str(args.events), "--quiet"], env=env,
                       check=True)
        print(f"produced {args.events:,} in {time.monotonic() - started:.1f} s", flush=True)
        port = free_port()
        bound = [] if args.max_labelled_inputs is None else ["--max-labelled-inputs", str(args.max_labelled_inputs)]
        worker = subprocess.Popen([*cli, "process", "--web-port", str(port), "--stop-when-idle", "20", *bound],
                                  env=env)
        print("| scored | RSS MB | seconds |\n|---|---|---|", flush=True)
        started, next_row, peak, done = time.monotonic(), args.step, 0.0, 0
        while worker.poll() is None:
            done, rss = processed(port), rss_mb(worker.pid)
            peak = max(peak, rss)
            if done >= next_row:
                print(f"| {done:,} | {rss:.0f} | {time.monotonic() - started:.0f} |", flush=True)
                next_row += args.step
            time.sleep(1.0)
        print(f"exit {worker.returncode}; last sample {done:,} scored; peak RSS {peak:.0f} MB")
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        stack.down()


if __name__ == "__main__":
    main()

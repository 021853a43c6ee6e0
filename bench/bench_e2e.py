"""End-to-end latency of a live stream: event time -> scored -> committed in PostgreSQL (issue 23, item 3).

Run: ``.venv/bin/python bench/bench_e2e.py [--rates 1000,5000] [--duration 60] [--label-delays default,0]``.
Starts a local stack (broker + PostgreSQL), then for each rate and label delay runs `synfinance sink`,
`synfinance process` and `synfinance produce --time live` as a user would, waits until every transaction
is scored and persisted, and prints p50 / p99 / max of, per transaction:

- scored: `processed_at - event_time` of its scored record (what `synfin_e2e_latency_seconds{stage="scored"}`
  observes, a few ms before the record is produced);
- committed: `ingested_at - event_time` of its `scored_transactions` row (`ingested_at` is the database
  transaction's start, a little before its commit, which `{stage="committed"}` observes).

Exact figures from the rows themselves, not histogram buckets. The first `--warmup` seconds of event time
are left out (processes starting, the model's first batches). `--label-delays default` is the realistic
fresh stream: no label exists for the first 10 minutes, so each partition's labels never pass a
transaction's event time and every transaction waits the processor's `--max-hold`; `0` gives labels at
their transaction's event time, which is the pipeline's own latency.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synfinance.common.settings import TopicNames
from synfinance.stack.processes import free_port


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "synfinance.cli", *args]


def run_once(env: dict[str, str], database_url: str, rate: int, duration: float, label_delay: str,
             warmup_s: float, logs: Path) -> dict[str, float]:
    import psycopg2

    run = uuid.uuid4().hex[:6]
    topics = TopicNames(**{name: f"e2e-{run}.{name}" for name in TopicNames.model_fields})
    env = {**env, **{f"SYNFIN_TOPICS__{f.upper()}": n for f, n in topics.model_dump().items()}}
    subprocess.run(cli("topics", "create"), env=env, check=True, capture_output=True, timeout=120)
    children = []
    try:
        for name, command in (("sink", cli("sink", "--group", f"e2e-sink-{run}", "--metrics-port", str(free_port()))),
                              ("process", cli("process", "--group", f"e2e-proc-{run}", "--web-port",
                                              str(free_port())))):
            out = open(logs / f"{name}-{run}.log", "wb")  # noqa: SIM115 (closed with the process)
            children.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
        time.sleep(8)  # both join their groups and read their starting offsets before live records come
        started = time.time()
        produced = subprocess.run(cli("produce", "--time", "live", "--rate", str(rate), "--duration", str(duration),
                                      "--seed", "42", "--label-delay", label_delay, "--quiet"),
                                  env=env, capture_output=True, text=True, timeout=duration + 300)
        if produced.returncode:
            raise SystemExit(f"produce failed: {produced.stderr.strip()[-500:]}")
        since = (started - 5,)
        count = ("select (select count(*) from transactions where event_time >= to_timestamp(%s)),"
                 " (select count(*) from scored_transactions where event_time >= to_timestamp(%s))")
        with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
            deadline, last, steady = time.monotonic() + 300, None, 0
            while time.monotonic() < deadline and steady < 3:  # every transaction persisted and scored
                cursor.execute(count, since * 2)
                now = cursor.fetchone()
                connection.commit()
                steady = steady + 1 if now == last and now[0] == now[1] else 0
                last = now
                time.sleep(1)
            want, got = last
            cursor.execute("select extract(epoch from processed_at - event_time),"
                           " extract(epoch from ingested_at - event_time) from scored_transactions"
                           " where event_time >= to_timestamp(%s)", (started + warmup_s,))
            rows = np.array(cursor.fetchall(), dtype=np.float64)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
    scored, committed = rows[:, 0], rows[:, 1]
    return {"transactions": float(want), "scored_rows": float(got), "measured": float(len(rows)),
            "scored_p50": float(np.percentile(scored, 50)), "scored_p99": float(np.percentile(scored, 99)),
            "scored_max": float(scored.max()), "committed_p50": float(np.percentile(committed, 50)),
            "committed_p99": float(np.percentile(committed, 99)), "committed_max": float(committed.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--label-delays", default="default,0")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of event time left out at the start")
    args = parser.parse_args()
    from synfinance.stack.launcher import LocalStack

    directory = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    stack = LocalStack(directory)
    try:
        state = stack.up()
        env = {**os.environ, **state.exports(), "PYTHONUNBUFFERED": "1"}
        database_url = env["SYNFIN_DATABASE_URL"]
        subprocess.run(cli("db", "init"), env=env, check=True, capture_output=True, timeout=120)
        print(f"{'rate':>6} {'labels':>8} {'txns':>8} {'scored p50':>10} {'p99':>7} {'max':>7} "
              f"{'committed p50':>13} {'p99':>7} {'max':>7}")
        for label_delay in args.label_delays.split(","):
            for rate in (int(r) for r in args.rates.split(",")):
                r = run_once(env, database_url, rate, args.duration, label_delay, args.warmup, directory)
                lost = "" if r["scored_rows"] >= r["transactions"] else f"  ({r['scored_rows']:.0f} scored!)"
                print(f"{rate:>6} {label_delay:>8} {r['transactions']:>8,.0f} {r['scored_p50']:>9.3f}s "
                      f"{r['scored_p99']:>6.3f}s {r['scored_max']:>6.2f}s {r['committed_p50']:>12.3f}s "
                      f"{r['committed_p99']:>6.3f}s {r['committed_max']:>6.2f}s{lost}", flush=True)
    finally:
        stack.down()


if __name__ == "__main__":
    main()
